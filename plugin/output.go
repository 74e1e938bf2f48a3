package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/yaml"
)

// Output formats accepted by -o.
const (
	outputTable = ""
	outputWide  = "wide"
	outputJSON  = "json"
	outputYAML  = "yaml"
)

// addOutputFlag adds -o to a command that lists things.
func addOutputFlag(cmd *cobra.Command, target *string) {
	cmd.Flags().StringVarP(target, "output", "o", "", "output format: wide, json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(
		[]string{outputWide, outputJSON, outputYAML}, cobra.ShellCompDirectiveNoFileComp))
}

// checkOutput rejects an unknown -o value before any API call.
func checkOutput(format string, allowed ...string) error {
	for _, a := range append([]string{outputTable}, allowed...) {
		if format == a {
			return nil
		}
	}
	return usageError("unknown output format %q: use one of %s", format, strings.Join(allowed, ", "))
}

// table writes kubectl-style tables: no borders, upper-case headers, columns three
// spaces apart, left aligned.
type table struct {
	w      io.Writer
	header []string
	rows   [][]string
}

func newTable(w io.Writer, header ...string) *table { return &table{w: w, header: header} }

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) render() error {
	var buf bytes.Buffer
	tbl := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Symbols: tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{
				Separators: tw.Separators{ShowHeader: tw.Off, ShowFooter: tw.Off, BetweenRows: tw.Off, BetweenColumns: tw.Off},
				Lines:      tw.Lines{ShowTop: tw.Off, ShowBottom: tw.Off, ShowHeaderLine: tw.Off, ShowFooterLine: tw.Off},
			},
		})),
		tablewriter.WithConfig(tablewriter.Config{
			Header: tw.CellConfig{
				Formatting: tw.CellFormatting{AutoFormat: tw.Off, AutoWrap: tw.WrapNone},
				Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
				Padding:    tw.CellPadding{Global: tw.Padding{Left: "", Right: "   ", Overwrite: true}},
			},
			Row: tw.CellConfig{
				Formatting: tw.CellFormatting{AutoWrap: tw.WrapNone},
				Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
				Padding:    tw.CellPadding{Global: tw.Padding{Left: "", Right: "   ", Overwrite: true}},
			},
		}),
		tablewriter.WithTrimSpace(tw.Off),
	)
	tbl.Header(t.header)
	if err := tbl.Bulk(t.rows); err != nil {
		return fmt.Errorf("rendering table: %w", err)
	}
	if err := tbl.Render(); err != nil {
		return fmt.Errorf("rendering table: %w", err)
	}
	// The column padding leaves spaces at the end of each line; kubectl's tables have none.
	var out strings.Builder
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if line == "" {
			continue
		}
		out.WriteString(strings.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(t.w, out.String())
	return err
}

// printList prints objects as a kubectl List in JSON or YAML, each item with its
// apiVersion and kind, so the output can be fed back to kubectl or decoded as typed
// objects.
func (o *Options) printList(w io.Writer, format string, objs []k8sruntime.Object) error {
	list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "List"}}
	list.SetResourceVersion("")
	for _, obj := range objs {
		u, err := o.toUnstructured(obj)
		if err != nil {
			return err
		}
		list.Items = append(list.Items, *u)
	}
	var p printers.ResourcePrinter = &printers.JSONPrinter{}
	if format == outputYAML {
		p = &printers.YAMLPrinter{}
	}
	if err := p.PrintObj(list, w); err != nil {
		return fmt.Errorf("printing %s: %w", format, err)
	}
	return nil
}

func (o *Options) toUnstructured(obj k8sruntime.Object) (*unstructured.Unstructured, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u, nil
	}
	gvk, err := apiutil.GVKForObject(obj, o.scheme)
	if err != nil {
		return nil, fmt.Errorf("typing %T: %w", obj, err)
	}
	m, err := k8sruntime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %T: %w", obj, err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

// printData prints a plain Go value (a report) as JSON or YAML.
func printData(w io.Writer, format string, v any) error {
	var (
		b   []byte
		err error
	)
	if format == outputYAML {
		b, err = yaml.Marshal(v)
	} else {
		b, err = json.MarshalIndent(v, "", "    ")
		b = append(b, '\n')
	}
	if err != nil {
		return fmt.Errorf("encoding %s: %w", format, err)
	}
	_, err = w.Write(b)
	return err
}

// painter colours words by what they mean, only when colour is on.
type painter struct{ on bool }

const (
	ansiReset  = "\x1b[0m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiBold   = "\x1b[1m"
)

func (p painter) paint(code, s string) string {
	if !p.on || s == "" {
		return s
	}
	return code + s + ansiReset
}

// state colours a state word: good states green, bad red, the rest yellow.
func (p painter) state(s string) string {
	switch strings.ToLower(s) {
	case "available", "active", "established", "true", "yes", "pass", "ready":
		return p.paint(ansiGreen, s)
	case "failed", "blackhole", "conflict", "false", "no", "fail", "missing", "idle":
		return p.paint(ansiRed, s)
	case "", "-":
		return s
	}
	return p.paint(ansiYellow, s)
}

func (p painter) bold(s string) string { return p.paint(ansiBold, s) }

// age renders how long ago t was, like kubectl's AGE column.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(now.Sub(t))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// isTerminal says whether f is a terminal, for colour in auto mode.
func isTerminal(f *os.File) bool { return printers.IsTerminal(f) }
