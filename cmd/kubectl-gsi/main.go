// Command kubectl-gsi is the `kubectl gsi` plugin; see plugin/ and docs/plugin.md.
package main

import (
	"os"
	"runtime"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/opengsi/gsi/plugin"
)

// Set at build time: go build -ldflags "-X main.version=v0.1.0 -X main.commit=... -X main.date=...".
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	os.Exit(plugin.Run(os.Args[1:], streams, plugin.BuildInfo{
		Version:   version,
		GitCommit: commit,
		BuildDate: date,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}))
}
