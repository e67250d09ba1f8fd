package main

import (
	"encoding/json"
	"io"

	"github.com/hashicorp/hcl/v2"
)

// validateJSON is the output of `validate --json`, in the shape of
// `terraform validate -json` so that tools that read one read the other.
type validateJSON struct {
	FormatVersion string           `json:"format_version"`
	Valid         bool             `json:"valid"`
	ErrorCount    int              `json:"error_count"`
	WarningCount  int              `json:"warning_count"`
	Diagnostics   []diagnosticJSON `json:"diagnostics"`
}

// validateFormatVersion is the version of validateJSON's layout: a minor
// version adds fields, a major one changes or removes some.
const validateFormatVersion = "1.0"

// diagnosticJSON is one diagnostic. Range is absent for a diagnostic that
// points nowhere in the files (a --var flag, a file that cannot be read).
type diagnosticJSON struct {
	Severity string     `json:"severity"` // "error" or "warning"
	Summary  string     `json:"summary"`
	Detail   string     `json:"detail"`
	Range    *rangeJSON `json:"range,omitempty"`
}

type rangeJSON struct {
	Filename string  `json:"filename"`
	Start    posJSON `json:"start"`
	End      posJSON `json:"end"`
}

// posJSON is a position: line and column from 1, byte offset from 0.
type posJSON struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// writeValidateJSON writes every diagnostic (none is cut: the output is
// for programs) and whether the topology is valid.
func writeValidateJSON(w io.Writer, diags hcl.Diagnostics) error {
	out := validateJSON{FormatVersion: validateFormatVersion, Diagnostics: []diagnosticJSON{}}
	for _, d := range diags {
		dj := diagnosticJSON{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			dj.Severity = "warning"
			out.WarningCount++
		} else {
			out.ErrorCount++
		}
		if s := d.Subject; s != nil {
			dj.Range = &rangeJSON{
				Filename: s.Filename,
				Start:    posJSON{s.Start.Line, s.Start.Column, s.Start.Byte},
				End:      posJSON{s.End.Line, s.End.Column, s.End.Byte},
			}
		}
		out.Diagnostics = append(out.Diagnostics, dj)
	}
	out.Valid = out.ErrorCount == 0
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
