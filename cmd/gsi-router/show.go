package main

import (
	"context"
	"encoding/json"
	"io"

	"github.com/opengsi/gsi/router/debug"
	"github.com/opengsi/gsi/router/status"
)

func show(ctx context.Context, out io.Writer, addr, view string, asJSON bool) error {
	var v any
	var text func()
	switch view {
	case "fib":
		var fv debug.FIBView
		v, text = &fv, func() { debug.WriteFIB(out, fv) }
	case "sessions":
		var ses []status.Session
		v, text = &ses, func() { debug.WriteSessions(out, ses) }
	case "vns":
		var vns []debug.VNView
		v, text = &vns, func() { debug.WriteVNs(out, vns) }
	}
	if err := debug.Get(ctx, addr, view, v); err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text()
	return nil
}
