package plugin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/opengsi/gsi/test/envtest"
)

const krewTestVersion = "v0.1.0-test.1"

// krewBinary builds the real krew from the Go module proxy into $GSI_CACHE once
// (krew/build-krew.sh, also behind `make krew-bin`) and returns its path.
func krewBinary(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(envtest.RepoRoot(), "krew", "build-krew.sh"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("building krew (needs the Go module proxy; run make krew-bin): %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// releaseHost builds this platform's release archive and the rendered manifest the way
// `make krew` does, into a temporary directory.
func releaseHost(t *testing.T) (manifest, archive string) {
	t.Helper()
	dist := t.TempDir()
	cmd := exec.Command("go", "run", "./krew/release", "-dev", "-platforms", "host", "-out", dist,
		"-version", krewTestVersion, "-commit", "krewtest", "-date", "2026-11-21T00:00:00Z")
	cmd.Dir = envtest.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("krew/release: %v\n%s", err, out)
	}
	archive = filepath.Join(dist, fmt.Sprintf("kubectl-gsi_%s_%s_%s.tar.gz", krewTestVersion, runtime.GOOS, runtime.GOARCH))
	return filepath.Join(dist, "krew", "gsi.yaml"), archive
}

// TestKrewInstall installs the plugin with the real krew from the rendered manifest and
// the local archive, then runs it through the real kubectl.
func TestKrewInstall(t *testing.T) {
	kubectl := requireKubectl(t)
	krew := krewBinary(t)
	manifest, archive := releaseHost(t)
	krewRoot := t.TempDir()
	home := t.TempDir()
	environ := append(os.Environ(), "KREW_ROOT="+krewRoot, "KREW_NO_UPGRADE_CHECK=1", "HOME="+home,
		"PATH="+filepath.Join(krewRoot, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KUBECONFIG="+env.Kubeconfig)
	runIn := func(name string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = environ
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return string(out), code
	}

	out, code := runIn(krew, "install", "--manifest="+manifest, "--archive="+archive)
	if code != 0 || !strings.Contains(out, `Installed plugin: gsi`) {
		t.Fatalf("krew install (exit %d):\n%s", code, out)
	}
	t.Logf("$ kubectl krew install --manifest=%s --archive=%s\n%s", manifest, archive, out)
	// krew's receipt of the install (`krew list` would need the plugin index, a git clone)
	receipt, err := os.ReadFile(filepath.Join(krewRoot, "receipts", "gsi.yaml"))
	if err != nil {
		t.Fatalf("krew wrote no receipt: %v", err)
	}
	contains(t, "krew receipt", string(receipt), "version: "+krewTestVersion)
	if _, err := os.Lstat(filepath.Join(krewRoot, "bin", "kubectl-gsi")); err != nil {
		t.Fatalf("krew did not link kubectl-gsi: %v", err)
	}

	out, code = runIn(kubectl, "gsi", "version")
	if code != 0 {
		t.Fatalf("kubectl gsi version (exit %d):\n%s", code, out)
	}
	t.Logf("$ kubectl gsi version\n%s", out)
	contains(t, "kubectl gsi version", out, "kubectl-gsi: "+krewTestVersion+" (commit krewtest", "Kubernetes: v1.37")

	f := newFixture(t).healthy()
	out, code = runIn(kubectl, "gsi", "status", "--gsi-namespace", f.gsiNS, "-n", f.vnNS)
	if code != 0 {
		t.Fatalf("kubectl gsi status (exit %d):\n%s", code, out)
	}
	contains(t, "kubectl gsi status", out, "TRANSIT GATEWAYS", "tgw-0f1e2d3c4b5a69788", "tgw1-1", f.vnNS+"/green")
	// exit codes reach the shell through kubectl
	if _, code = runIn(kubectl, "gsi", "status", "tgw9", "--gsi-namespace", f.gsiNS); code != ExitNotFound {
		t.Errorf("kubectl gsi status tgw9: exit %d, want %d", code, ExitNotFound)
	}
}
