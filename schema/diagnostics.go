package schema

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// duplicate is the diagnostic for a second declaration of a name.
func duplicate(kind, name string, first hcl.Range, again hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Duplicate %s declaration", kind),
		Detail: fmt.Sprintf("A %s named %q was already declared at %s. Each %s needs a name of its own.",
			kind, name, first, kind),
		Subject: again.Ptr(),
		Context: first.Ptr(),
	}
}

// ErrorAt is an error diagnostic at rng, its detail formatted with args.
func ErrorAt(rng hcl.Range, summary, detail string, args ...any) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(detail, args...),
		Subject:  rng.Ptr(),
	}
}

// quoteList renders names as "a", "b" and "c".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	switch len(q) {
	case 0:
		return "none"
	case 1:
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}
