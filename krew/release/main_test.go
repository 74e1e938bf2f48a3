package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestArchivesAreReproducible(t *testing.T) {
	data := []byte("#!/bin/sh\necho gsi\n")
	a, err := tarGz("kubectl-gsi", data)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := tarGz("kubectl-gsi", data)
	if !bytes.Equal(a, b) {
		t.Error("two tar.gz of the same file differ")
	}
	gz, err := gzip.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(tr)
	if hdr.Name != "kubectl-gsi" || hdr.Mode != 0o755 || !bytes.Equal(got, data) {
		t.Errorf("tar entry %s %o %q", hdr.Name, hdr.Mode, got)
	}
	z, err := zipFile("kubectl-gsi.exe", data)
	if err != nil {
		t.Fatal(err)
	}
	z2, _ := zipFile("kubectl-gsi.exe", data)
	if !bytes.Equal(z, z2) {
		t.Error("two zips of the same file differ")
	}
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil || len(zr.File) != 1 || zr.File[0].Name != "kubectl-gsi.exe" {
		t.Fatalf("zip: %v %v", err, zr)
	}
}

// The template renders to a manifest with every platform; TestKrewInstall (plugin/) has
// the real krew validate and install one.
func TestManifestRenders(t *testing.T) {
	out := t.TempDir()
	if err := os.MkdirAll(filepath.Join(out, "krew"), 0o755); err != nil {
		t.Fatal(err)
	}
	var plats []platform
	for _, spec := range strings.Split(DefaultPlatforms, ",") {
		goos, goarch, _ := strings.Cut(spec, "/")
		bin := "kubectl-gsi"
		if goos == "windows" {
			bin += ".exe"
		}
		plats = append(plats, platform{OS: goos, Arch: goarch, Bin: bin, URI: "https://example.invalid/" + spec,
			SHA256: strings.Repeat("ab", 32)})
	}
	c := config{version: "v1.2.3", homepage: "https://github.com/opengsi/gsi", template: "../gsi.yaml", out: out}
	if err := renderManifest(c, plats); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(out, "krew", "gsi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Kind     string                `json:"kind"`
		Metadata struct{ Name string } `json:"metadata"`
		Spec     struct {
			Version          string `json:"version"`
			ShortDescription string `json:"shortDescription"`
			Platforms        []struct {
				Selector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				} `json:"selector"`
				SHA256 string                      `json:"sha256"`
				Bin    string                      `json:"bin"`
				Files  []struct{ From, To string } `json:"files"`
			} `json:"platforms"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatalf("rendered manifest: %v\n%s", err, raw)
	}
	if m.Kind != "Plugin" || m.Metadata.Name != "gsi" || m.Spec.Version != "v1.2.3" || len(m.Spec.Platforms) != 5 {
		t.Errorf("manifest: %+v", m)
	}
	if len(m.Spec.ShortDescription) > 60 {
		t.Errorf("shortDescription too long for krew's index: %q", m.Spec.ShortDescription)
	}
	for _, p := range m.Spec.Platforms {
		if p.SHA256 == "" || p.Bin == "" || len(p.Files) != 1 || p.Files[0].From != p.Bin || p.Selector.MatchLabels["os"] == "" {
			t.Errorf("platform %+v", p)
		}
	}
}
