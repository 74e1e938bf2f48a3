// Command release builds the `kubectl gsi` release archives for krew and renders the krew
// manifest from krew/gsi.yaml: one archive per platform (tar.gz, zip for Windows) with
// a fixed modification time so equal inputs give equal sha256 sums.
//
//	go run ./krew/release -version v0.1.0 -out dist
//
// writes dist/kubectl-gsi_v0.1.0_<os>_<arch>.{tar.gz,zip}, dist/sha256sums.txt and
// dist/krew/gsi.yaml.
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"text/template"
	"time"
)

// DefaultPlatforms are the platforms krew users get archives for.
const DefaultPlatforms = "linux/amd64,linux/arm64,darwin/amd64,darwin/arm64,windows/amd64"

// epoch is the modification time of every archived file, for reproducible archives.
var epoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

type platform struct {
	OS, Arch, Bin, Archive, URI, SHA256 string
}

type config struct {
	version, commit, date, out, platforms, baseURL, homepage, template, pkg string
	// dev builds the way `go test` compiles (no -trimpath, the environment's
	// CGO_ENABLED) so the build cache a test run just filled is reused: seconds instead
	// of minutes for the install test. Release archives never use it.
	dev bool
}

func main() {
	var c config
	flag.StringVar(&c.version, "version", "v0.0.0-dev", "release version (semver with a leading v)")
	flag.StringVar(&c.commit, "commit", "unknown", "git commit baked into the binary")
	flag.StringVar(&c.date, "date", "unknown", "build date baked into the binary")
	flag.StringVar(&c.out, "out", "dist", "output directory")
	flag.StringVar(&c.platforms, "platforms", DefaultPlatforms, "comma-separated os/arch list; \"host\" means this machine's")
	flag.StringVar(&c.baseURL, "base-url", "https://github.com/opengsi/gsi/releases/download",
		"where the archives are published; the manifest's uri is BASE/VERSION/ARCHIVE")
	flag.StringVar(&c.homepage, "homepage", "https://github.com/opengsi/gsi", "homepage in the manifest")
	flag.StringVar(&c.template, "template", "krew/gsi.yaml", "krew manifest template")
	flag.StringVar(&c.pkg, "package", "./cmd/kubectl-gsi", "Go package of the plugin")
	flag.BoolVar(&c.dev, "dev", false, "reuse the test build cache (no -trimpath); for the install test only")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintf(os.Stderr, "release: %v\n", err)
		os.Exit(1)
	}
}

func run(c config) error {
	if c.platforms == "host" {
		c.platforms = runtime.GOOS + "/" + runtime.GOARCH
	}
	if err := os.MkdirAll(filepath.Join(c.out, "krew"), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", c.out, err)
	}
	var plats []platform
	for _, spec := range strings.Split(c.platforms, ",") {
		p, err := buildPlatform(c, strings.TrimSpace(spec))
		if err != nil {
			return err
		}
		plats = append(plats, p)
		fmt.Printf("%s  %s\n", p.SHA256, p.Archive)
	}
	sort.Slice(plats, func(i, j int) bool { return plats[i].Archive < plats[j].Archive })
	if err := writeSums(c.out, plats); err != nil {
		return err
	}
	return renderManifest(c, plats)
}

func buildPlatform(c config, spec string) (platform, error) {
	goos, goarch, ok := strings.Cut(spec, "/")
	if !ok {
		return platform{}, fmt.Errorf("platform %q: want os/arch", spec)
	}
	p := platform{OS: goos, Arch: goarch, Bin: "kubectl-gsi"}
	ext := ".tar.gz"
	if goos == "windows" {
		p.Bin, ext = "kubectl-gsi.exe", ".zip"
	}
	p.Archive = fmt.Sprintf("kubectl-gsi_%s_%s_%s%s", c.version, goos, goarch, ext)
	p.URI = strings.TrimSuffix(c.baseURL, "/") + "/" + c.version + "/" + p.Archive
	dir, err := os.MkdirTemp("", "kubectl-gsi-build-")
	if err != nil {
		return p, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, p.Bin)
	ldflags := fmt.Sprintf("-s -w -X main.version=%s -X main.commit=%s -X main.date=%s", c.version, c.commit, c.date)
	args := []string{"build", "-trimpath", "-ldflags", ldflags, "-o", bin, c.pkg}
	env := append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	if c.dev {
		args = []string{"build", "-ldflags", ldflags, "-o", bin, c.pkg}
		env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch)
	}
	cmd := exec.Command("go", args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return p, fmt.Errorf("building %s: %w", spec, err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return p, fmt.Errorf("reading %s: %w", bin, err)
	}
	var archive []byte
	if ext == ".zip" {
		archive, err = zipFile(p.Bin, data)
	} else {
		archive, err = tarGz(p.Bin, data)
	}
	if err != nil {
		return p, fmt.Errorf("archiving %s: %w", spec, err)
	}
	if err := os.WriteFile(filepath.Join(c.out, p.Archive), archive, 0o644); err != nil {
		return p, fmt.Errorf("writing %s: %w", p.Archive, err)
	}
	sum := sha256.Sum256(archive)
	p.SHA256 = hex.EncodeToString(sum[:])
	return p, nil
}

func tarGz(name string, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	gz.ModTime = epoch
	tw := tar.NewWriter(gz)
	hdr := &tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func zipFile(name string, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	hdr := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: epoch}
	hdr.SetMode(0o755)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeSums writes sha256sums.txt in the format `sha256sum -c` reads.
func writeSums(out string, plats []platform) error {
	var b strings.Builder
	for _, p := range plats {
		fmt.Fprintf(&b, "%s  %s\n", p.SHA256, p.Archive)
	}
	if err := os.WriteFile(filepath.Join(out, "sha256sums.txt"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing sha256sums.txt: %w", err)
	}
	return nil
}

func renderManifest(c config, plats []platform) error {
	tmpl, err := template.ParseFiles(c.template)
	if err != nil {
		return fmt.Errorf("reading manifest template: %w", err)
	}
	var b bytes.Buffer
	data := struct {
		Version, Homepage string
		Platforms         []platform
	}{c.version, c.homepage, plats}
	if err := tmpl.Execute(&b, data); err != nil {
		return fmt.Errorf("rendering manifest: %w", err)
	}
	path := filepath.Join(c.out, "krew", "gsi.yaml")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	fmt.Printf("manifest  %s\n", path)
	return nil
}
