package schema

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// MaxFileSize bounds a topology file, in bytes. A file is written by hand;
// the bound keeps a binary or a log passed by mistake from costing seconds
// of parsing and a flood of diagnostics.
const MaxFileSize = 1 << 20

// checkSource refuses, up front, source that cannot be a topology file:
// too large, or not UTF-8 text (a NUL byte or an invalid UTF-8 sequence).
// One diagnostic names the file and the first offending byte.
func checkSource(filename string, src []byte) hcl.Diagnostics {
	if len(src) > MaxFileSize {
		return hcl.Diagnostics{ErrorAt(posRange(filename, src, 0), "File too large",
			"%s is %d bytes; a topology file may be at most %d bytes (1 MiB).", filename, len(src), MaxFileSize)}
	}
	off, what := firstNonText(src)
	if off < 0 {
		return nil
	}
	rng := posRange(filename, src, off)
	return hcl.Diagnostics{ErrorAt(rng, "File is not text",
		"%s is not a text file: byte %d (line %d, column %d) is %s. A topology file is UTF-8 text without NUL bytes.",
		filename, off, rng.Start.Line, rng.Start.Column, what)}
}

// firstNonText finds the first NUL byte or invalid UTF-8 sequence in src,
// and says which it is; -1 when there is none.
func firstNonText(src []byte) (int, string) {
	nul := bytes.IndexByte(src, 0)
	limit := len(src)
	if nul >= 0 {
		limit = nul
	}
	for i := 0; i < limit; {
		r, size := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && size <= 1 {
			return i, fmt.Sprintf("0x%02x, not valid UTF-8", src[i])
		}
		i += size
	}
	if nul >= 0 {
		return nul, "a NUL byte"
	}
	return -1, ""
}

// posRange is the one-byte range at offset off of src, with its line and
// column. The bytes before off are valid UTF-8.
func posRange(filename string, src []byte, off int) hcl.Range {
	before := src[:off]
	line := 1 + bytes.Count(before, []byte{'\n'})
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	col := 1 + utf8.RuneCount(before[lineStart:])
	start := hcl.Pos{Line: line, Column: col, Byte: off}
	end := start
	if off < len(src) {
		end = hcl.Pos{Line: line, Column: col + 1, Byte: off + 1}
	}
	return hcl.Range{Filename: filename, Start: start, End: end}
}

// Source is the text of one topology file and its name, as diagnostics
// will show it.
type Source struct {
	Filename string
	Bytes    []byte
}
