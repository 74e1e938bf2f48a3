package config

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
)

// WatchFile sends the file's config now and again whenever it changes (written in place,
// replaced by rename as a Kubernetes ConfigMap mount does, or on SIGHUP). A config that
// does not load is logged and skipped: the router keeps running the last good one.
func WatchFile(ctx context.Context, log logr.Logger, path string) (<-chan Config, error) {
	first, err := Load(path)
	if err != nil {
		return nil, err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	// watch the directory: atomic replacements swap the file (or a symlink) out
	if err := w.Add(filepath.Dir(path)); err != nil {
		w.Close()
		return nil, err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	out := make(chan Config, 1)
	out <- first
	go func() {
		defer w.Close()
		defer signal.Stop(hup)
		defer close(out)
		last := first
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-w.Errors:
				log.Error(err, "watching router config", "path", path)
				continue
			case <-w.Events:
			case <-hup:
			}
			c, err := Load(path)
			if err != nil {
				log.Error(err, "router config not applied, keeping the running one", "path", path)
				continue
			}
			if Equal(c, last) {
				continue
			}
			last = c
			select {
			case out <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
