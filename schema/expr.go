package schema

import (
	"fmt"
	"math/big"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// String is a string attribute's value with where it came from.
type String struct {
	Value string
	// Range is the expression's range.
	Range hcl.Range
	// literal is true when the source text between the quotes is exactly
	// Value, so that a byte offset into Value is one into the source.
	literal bool
	// unknown is true when the value uses a variable that has no value;
	// that is reported once, at the variable, so checks of the value skip it.
	unknown bool
}

// Known reports whether the value is known: false when it uses a variable
// that has no value (reported at the variable), so Value is meaningless.
func (s String) Known() bool { return !s.unknown }

// SubRange returns the source range of Value[start:end]: inside the quotes
// for a plain string literal, the whole expression otherwise (after
// interpolation the offsets no longer match the source).
func (s String) SubRange(start, end int) hcl.Range {
	if !s.literal || start < 0 || end > len(s.Value) || start > end {
		return s.Range
	}
	r, base := s.Range, s.Range.Start
	r.Start = hcl.Pos{Line: base.Line, Column: base.Column + 1 + start, Byte: base.Byte + 1 + start}
	r.End = hcl.Pos{Line: base.Line, Column: base.Column + 1 + end, Byte: base.Byte + 1 + end}
	return r
}

// Ref is a reference to a declared object, such as node.n2.
type Ref struct {
	Kind  string // "node"
	Name  string
	Range hcl.Range
}

// evaluator evaluates attribute expressions with the file's variables.
type evaluator struct {
	ctx  *hcl.EvalContext
	vars []string
	src  map[string][]byte // each file's source by name, to tell literal strings
}

func newEvaluator(vars []*Variable, src map[string][]byte) *evaluator {
	obj := map[string]cty.Value{}
	names := make([]string, 0, len(vars))
	for _, v := range vars {
		names = append(names, v.Name)
		if v.Value != cty.NilVal {
			obj[v.Name] = v.Value
		} else {
			obj[v.Name] = cty.DynamicVal // reported already; do not cascade
		}
	}
	return &evaluator{
		ctx:  &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(obj)}},
		vars: names,
		src:  src,
	}
}

// checkVariables reports references an expression makes to anything but
// declared variables, with a message better than "unknown variable".
func (e *evaluator) checkVariables(expr hcl.Expression, what string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, tr := range expr.Variables() {
		rng := tr.SourceRange()
		switch tr.RootName() {
		case "var":
			if len(tr) < 2 {
				diags = append(diags, ErrorAt(rng, "Invalid variable reference", "A variable is used as var.NAME."))
				continue
			}
			name := attrName(tr[1])
			if !slices.Contains(e.vars, name) {
				diags = append(diags, ErrorAt(rng, "Reference to undeclared variable",
					"No variable named %q is declared; add a variable %q block.%s", name, name, DidYouMean(name, e.vars)))
			}
		case "node", "network":
			diags = append(diags, ErrorAt(rng, "Reference where a value is expected",
				"%s is a value, not a reference; %s cannot be used here.", what, tr.RootName()+"."+attrName(safeIndex(tr, 1))))
		default:
			diags = append(diags, ErrorAt(rng, "Unknown reference",
				"%q is not something a topology file can refer to; use var.NAME for variables.", tr.RootName()))
		}
	}
	return diags
}

func safeIndex(tr hcl.Traversal, i int) hcl.Traverser {
	if i < len(tr) {
		return tr[i]
	}
	return nil
}

func attrName(t hcl.Traverser) string {
	if a, ok := t.(hcl.TraverseAttr); ok {
		return a.Name
	}
	return ""
}

// str evaluates an attribute that must be a string.
func (e *evaluator) str(attr *hcl.Attribute) (String, hcl.Diagnostics) {
	out := String{Range: attr.Expr.Range()}
	what := fmt.Sprintf("The attribute %q", attr.Name)
	if diags := e.checkVariables(attr.Expr, what); diags.HasErrors() {
		return out, diags
	}
	val, diags := attr.Expr.Value(e.ctx)
	if diags.HasErrors() {
		return out, diags
	}
	if !val.IsKnown() {
		// An unset variable, reported at its declaration: no more errors
		// here, nor in the checks of the value.
		out.unknown = true
		return out, diags
	}
	s, err := convert.Convert(val, cty.String)
	if err != nil || s.IsNull() {
		return out, append(diags, ErrorAt(out.Range, "Incorrect attribute value type",
			"The attribute %q needs a string.", attr.Name))
	}
	out.Value = s.AsString()
	if lit, ok := attr.Expr.(*hclsyntax.TemplateExpr); ok && lit.IsStringLiteral() {
		rng, src := out.Range, e.src[out.Range.Filename]
		if rng.End.Byte <= len(src) && rng.Start.Byte < rng.End.Byte &&
			string(src[rng.Start.Byte:rng.End.Byte]) == `"`+out.Value+`"` {
			out.literal = true
		}
	}
	return out, diags
}

// strings evaluates an attribute that must be a list of strings.
func (e *evaluator) strings(attr *hcl.Attribute) ([]String, hcl.Diagnostics) {
	what := fmt.Sprintf("The attribute %q", attr.Name)
	if diags := e.checkVariables(attr.Expr, what); diags.HasErrors() {
		return nil, diags
	}
	val, diags := attr.Expr.Value(e.ctx)
	if diags.HasErrors() || !val.IsKnown() {
		return nil, diags
	}
	list, err := convert.Convert(val, cty.List(cty.String))
	if err != nil || list.IsNull() {
		return nil, append(diags, ErrorAt(attr.Expr.Range(), "Incorrect attribute value type",
			"The attribute %q needs a list of strings, such as [\"name\"].", attr.Name))
	}
	var out []String
	elems := map[int]hcl.Range{}
	if tuple, ok := attr.Expr.(*hclsyntax.TupleConsExpr); ok {
		for i, ex := range tuple.Exprs {
			elems[i] = ex.Range()
		}
	}
	for i, v := range list.AsValueSlice() {
		rng, ok := elems[i]
		if !ok {
			rng = attr.Expr.Range()
		}
		if v.IsNull() {
			continue
		}
		if !v.IsKnown() {
			// An unset variable, reported at its declaration.
			out = append(out, String{Range: rng, unknown: true})
			continue
		}
		out = append(out, String{Value: v.AsString(), Range: rng})
	}
	return out, diags
}

// ref decodes an attribute that must be a reference such as node.n2.
func ref(attr *hcl.Attribute, kind string) (Ref, hcl.Diagnostics) {
	return refExpr(attr.Expr, attr.Name, kind)
}

// refExpr decodes an expression of the attribute named attribute that must be a
// reference to a kind.
func refExpr(expr hcl.Expression, attribute, kind string) (Ref, hcl.Diagnostics) {
	rng := expr.Range()
	if lit, ok := expr.(*hclsyntax.TemplateExpr); ok && lit.IsStringLiteral() {
		v, _ := lit.Value(nil)
		name := ""
		if v.Type() == cty.String {
			name = v.AsString()
		}
		return Ref{}, hcl.Diagnostics{ErrorAt(rng, "Quoted reference",
			"The attribute %q needs a reference, not a string: write %s.%s without quotes.", attribute, kind, name)}
	}
	tr, diags := hcl.AbsTraversalForExpr(expr)
	if diags.HasErrors() || len(tr) != 2 || tr.RootName() != kind || attrName(tr[1]) == "" {
		example := map[string]string{"network": "office"}[kind]
		if example == "" {
			example = "n2"
		}
		return Ref{}, hcl.Diagnostics{ErrorAt(rng, "Invalid reference",
			"The attribute %q needs a reference to a %s, such as %s.%s.", attribute, kind, kind, example)}
	}
	return Ref{Kind: kind, Name: attrName(tr[1]), Range: rng}, nil
}

// duration decodes a string attribute holding a Go duration ("5s").
func (e *evaluator) duration(attr *hcl.Attribute) (time.Duration, hcl.Diagnostics) {
	s, diags := e.str(attr)
	if diags.HasErrors() || !s.Known() {
		return 0, diags
	}
	d, err := time.ParseDuration(s.Value)
	if err != nil || d <= 0 {
		return 0, append(diags, ErrorAt(s.Range, "Invalid duration",
			"%q is not a positive duration such as \"5s\" or \"250ms\".", s.Value))
	}
	return d, diags
}

// whole evaluates an attribute that must be a whole number from lo to hi.
func (e *evaluator) whole(attr *hcl.Attribute, lo, hi int) (int, hcl.Diagnostics) {
	rng := attr.Expr.Range()
	if diags := e.checkVariables(attr.Expr, fmt.Sprintf("The attribute %q", attr.Name)); diags.HasErrors() {
		return 0, diags
	}
	val, diags := attr.Expr.Value(e.ctx)
	if diags.HasErrors() || !val.IsKnown() {
		return 0, diags
	}
	bad := ErrorAt(rng, "Invalid number",
		"The attribute %q needs a whole number from %d to %d.", attr.Name, lo, hi)
	n, err := convert.Convert(val, cty.Number)
	if err != nil || n.IsNull() {
		return 0, append(diags, bad)
	}
	i, acc := n.AsBigFloat().Int64()
	if acc != big.Exact || i < int64(lo) || i > int64(hi) {
		return 0, append(diags, bad)
	}
	return int(i), diags
}

// socket evaluates an attribute that must be a "host:port" string.
// zeroPort allows port 0 (pick one).
func (e *evaluator) socket(attr *hcl.Attribute, zeroPort bool) (String, hcl.Diagnostics) {
	s, diags := e.str(attr)
	if diags.HasErrors() || !s.Known() {
		return s, diags
	}
	return s, append(diags, checkSocket(s, attr.Name, zeroPort)...)
}

// checkSocket checks a "host:port" value.
func checkSocket(s String, attr string, zeroPort bool) hcl.Diagnostics {
	host, port, err := net.SplitHostPort(s.Value)
	if err == nil && host == "" {
		err = fmt.Errorf("empty host")
	}
	var p uint64
	if err == nil {
		p, err = strconv.ParseUint(port, 10, 16)
		if err == nil && p == 0 && !zeroPort {
			err = fmt.Errorf("port 0")
		}
	}
	if err != nil {
		want := "1 to 65535"
		if zeroPort {
			want = "0 to 65535 (0 picks a free port)"
		}
		return hcl.Diagnostics{ErrorAt(s.Range, "Invalid socket address",
			"The attribute %q needs a socket address HOST:PORT with a port from %s, such as \"127.0.0.1:7000\"; %q is not one.",
			attr, want, s.Value)}
	}
	return nil
}

// validName checks a block label used as a name.
func validName(kind, name string, rng hcl.Range) hcl.Diagnostics {
	if !hclsyntax.ValidIdentifier(name) {
		return hcl.Diagnostics{ErrorAt(rng, "Invalid name",
			"A %s name must start with a letter and hold only letters, digits, underscores and dashes; %q does not.", kind, name)}
	}
	return nil
}

// DidYouMean suggests the nearest of names to name, or says nothing.
func DidYouMean(name string, names []string) string {
	if s := Suggest(name, names); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}

// Suggest returns the name nearest to name, if one is near enough.
func Suggest(name string, names []string) string {
	best, bestDist := "", 4
	for _, n := range names {
		d := levenshtein.Distance(name, n, nil)
		if d < bestDist || (d == bestDist && n < best) {
			best, bestDist = n, d
		}
	}
	if best == "" || bestDist > len(name)/2+1 && !strings.HasPrefix(best, name) {
		return ""
	}
	return best
}
