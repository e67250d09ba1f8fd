package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/mitchellh/go-wordwrap"
	"github.com/zclconf/go-cty/cty"
)

// Diagnostics are rendered as hcl's text writer does (file, line, snippet,
// wrapped detail), with bounds hcl's writer lacks, so that a file of junk
// gives a screenful, not megabytes: at most maxDiagnostics of them, then a
// count of the rest; snippet lines cut to a window around the error; and
// no scan of the whole file per diagnostic.
const (
	maxDiagnostics = 20
	// maxSnippetLine is the longest source line shown whole; a longer one
	// is cut to about this many bytes around the highlighted range.
	maxSnippetLine = 160
	// maxSnippetLines is how many lines of source one diagnostic shows.
	maxSnippetLines = 12
	detailWidth     = 100
)

// writeDiagnostics renders diagnostics with file, line, column and a source
// snippet, or one a line when compact.
func writeDiagnostics(w io.Writer, diags hcl.Diagnostics, files map[string]*hcl.File, compact bool) {
	shown := diags[:min(len(diags), maxDiagnostics)]
	for _, d := range shown {
		if compact {
			writeCompact(w, d)
		} else {
			writeFull(w, d, files)
		}
	}
	if rest := diags[len(shown):]; len(rest) > 0 {
		noun := "errors"
		if slices.ContainsFunc(rest, func(d *hcl.Diagnostic) bool { return d.Severity != hcl.DiagError }) {
			noun = "diagnostics"
		}
		fmt.Fprintf(w, "and %s more %s\n", thousands(len(rest)), noun)
	}
}

func writeCompact(w io.Writer, d *hcl.Diagnostic) {
	where := "ockamtop"
	if d.Subject != nil {
		where = fmt.Sprintf("%s:%d,%d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
	}
	detail := strings.Join(strings.Fields(d.Detail), " ")
	fmt.Fprintf(w, "%s: %s: %s; %s\n", where, severity(d), d.Summary, detail)
}

func severity(d *hcl.Diagnostic) string {
	if d.Severity == hcl.DiagWarning {
		return "Warning"
	}
	return "Error"
}

// writeFull writes one diagnostic in the layout of hcl.NewDiagnosticTextWriter.
func writeFull(w io.Writer, d *hcl.Diagnostic, files map[string]*hcl.File) {
	fmt.Fprintf(w, "%s: %s\n\n", severity(d), d.Summary)
	if d.Subject != nil {
		writeSnippet(w, d, files[d.Subject.Filename])
		writeValues(w, d)
	}
	if d.Detail != "" {
		fmt.Fprintf(w, "%s\n\n", wordwrap.WrapString(d.Detail, detailWidth))
	}
}

// writeSnippet writes the lines of the subject and context ranges, the
// subject highlighted (between no escape codes: the output has no colour).
func writeSnippet(w io.Writer, d *hcl.Diagnostic, file *hcl.File) {
	subject := *d.Subject
	if file == nil || file.Bytes == nil {
		// A file refused before parsing (not text, too large): its bytes
		// are no use to show.
		fmt.Fprintf(w, "  on %s line %d, column %d:\n\n", subject.Filename, subject.Start.Line, subject.Start.Column)
		return
	}
	src := file.Bytes
	// A context in another file (the first declaration of a name declared
	// again here) is named in the detail; only one in this file is shown.
	snip, highlight := subject, subject
	if d.Context != nil && d.Context.Filename == subject.Filename {
		snip = hcl.RangeOver(snip, *d.Context)
	}
	// An empty range cannot be shown: make it one byte, as hcl does.
	if snip.Empty() {
		snip.End.Byte++
	}
	if highlight.Empty() {
		highlight.End.Byte++
	}
	where := ""
	if cs, ok := file.Nav.(interface{ ContextString(offset int) string }); ok {
		if s := cs.ContextString(subject.Start.Byte); s != "" {
			where = ", in " + s
		}
	}
	fmt.Fprintf(w, "  on %s line %d%s:\n", subject.Filename, subject.Start.Line, where)

	// Walk the lines from the one the snippet starts on; positions carry
	// line numbers, so nothing before it is read.
	start := min(max(snip.Start.Byte, 0), len(src))
	for start > 0 && src[start-1] != '\n' {
		start--
	}
	line, shown := snip.Start.Line, 0
	for start < len(src) && start < snip.End.Byte {
		end, next := lineEnd(src, start)
		lr := byteRange(subject.Filename, start, end)
		if lr.Overlaps(snip) {
			if shown == maxSnippetLines {
				fmt.Fprintf(w, "  ...\n")
				break
			}
			before, hl, after := lr.PartitionAround(highlight)
			if hl.Empty() {
				fmt.Fprintf(w, "%4d: %s\n", line, cutLine(src[start:end], 0, 0))
			} else {
				s, e := hl.Start.Byte-start, hl.End.Byte-start
				text := src[before.Start.Byte:after.End.Byte]
				fmt.Fprintf(w, "%4d: %s\n", line, cutLine(text, s, e))
			}
			shown++
		}
		start, line = next, line+1
	}
	fmt.Fprintln(w)
}

// lineEnd finds the end of the line at start (without "\n" or "\r\n") and
// where the next one starts.
func lineEnd(src []byte, start int) (end, next int) {
	i := start
	for i < len(src) && src[i] != '\n' {
		i++
	}
	end, next = i, i
	if i < len(src) {
		next = i + 1
	}
	if end > start && src[end-1] == '\r' {
		end--
	}
	return end, next
}

func byteRange(filename string, start, end int) hcl.Range {
	return hcl.Range{Filename: filename, Start: hcl.Pos{Byte: start}, End: hcl.Pos{Byte: end}}
}

// cutLine returns a source line, cut to a window around line[s:e] when it
// is longer than maxSnippetLine; "..." marks what was cut.
func cutLine(line []byte, s, e int) string {
	if len(line) <= maxSnippetLine {
		return string(line)
	}
	from := max(0, s-maxSnippetLine/4)
	to := min(len(line), max(e, s+maxSnippetLine/2)+maxSnippetLine/4)
	if to-from > maxSnippetLine {
		to = from + maxSnippetLine
	}
	for from > 0 && !utf8.RuneStart(line[from]) {
		from--
	}
	for to < len(line) && !utf8.RuneStart(line[to]) {
		to++
	}
	out := string(line[from:to])
	if from > 0 {
		out = "..." + out
	}
	if to < len(line) {
		out += "..."
	}
	return out
}

// writeValues says what the variables of the diagnostic's expression were,
// as hcl's writer does: "with var.port as 9000."
func writeValues(w io.Writer, d *hcl.Diagnostic) {
	if d.Expression == nil || d.EvalContext == nil {
		return
	}
	var stmts []string
	for _, tr := range d.Expression.Variables() {
		val, diags := tr.TraverseAbs(d.EvalContext)
		if diags.HasErrors() || !val.IsKnown() || val.IsMarked() {
			continue
		}
		name := traversalString(tr)
		if slices.ContainsFunc(stmts, func(s string) bool { return strings.HasPrefix(s, name+" ") }) {
			continue
		}
		if val.IsNull() {
			stmts = append(stmts, name+" set to null")
		} else {
			stmts = append(stmts, name+" as "+valueString(val))
		}
	}
	slices.Sort(stmts)
	for i, s := range stmts {
		lead, end := "     ", ",\n"
		if i == 0 {
			lead = "with "
		}
		if i == len(stmts)-1 {
			end = ".\n\n"
		}
		fmt.Fprintf(w, "%s%s%s", lead, s, end)
	}
}

func traversalString(tr hcl.Traversal) string {
	var b strings.Builder
	for _, step := range tr {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			b.WriteString(s.Name)
		case hcl.TraverseAttr:
			b.WriteString("." + s.Name)
		case hcl.TraverseIndex:
			if s.Key.Type().IsPrimitiveType() {
				b.WriteString("[" + valueString(s.Key) + "]")
			} else {
				b.WriteString("[...]")
			}
		}
	}
	return b.String()
}

// valueString renders a value briefly: primitives as they are, the rest by type.
func valueString(v cty.Value) string {
	switch t := v.Type(); {
	case v.IsNull():
		return "null"
	case t == cty.Bool:
		return strconv.FormatBool(v.True())
	case t == cty.Number:
		return v.AsBigFloat().Text('g', 10)
	case t == cty.String:
		return strconv.Quote(v.AsString())
	default:
		return t.FriendlyName()
	}
}

// thousands writes n with thousands separators: 3,412.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
