package schema

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Variable is a `variable "NAME" { default = ... }` block.
type Variable struct {
	Name        string
	Description string    `hcl:"description"`
	Default     cty.Value `hcl:"default"` // cty.NilVal when there is none
	// Value is the default, or the user's override.
	Value     cty.Value
	DeclRange hcl.Range
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "default"},
		{Name: "description"},
	},
}

func decodeVariable(b *hcl.Block) (*Variable, hcl.Diagnostics) {
	v := &Variable{Name: b.Labels[0], DeclRange: b.DefRange}
	diags := validName("variable", v.Name, b.LabelRanges[0])
	content, d := b.Body.Content(variableSchema)
	diags = append(diags, d...)
	if attr, ok := content.Attributes["default"]; ok {
		val, d := attr.Expr.Value(nil)
		diags = append(diags, d...)
		if !d.HasErrors() {
			v.Default = val
			v.Value = val
		}
	}
	if attr, ok := content.Attributes["description"]; ok {
		val, d := attr.Expr.Value(nil)
		diags = append(diags, d...)
		if !d.HasErrors() {
			if s, err := convert.Convert(val, cty.String); err == nil && s.IsKnown() && !s.IsNull() {
				v.Description = s.AsString()
			}
		}
	}
	return v, diags
}

// Overrides are variable values given outside the file, as text.
type Overrides struct {
	// Vars are --var NAME=VALUE flags, in order; a later one wins.
	Vars []string
	// Env is the environment ("KEY=VALUE"), read for OCKAMTOP_VAR_NAME.
	Env []string
	// Engine says the topology runs on a container engine, each node in a
	// container of its own named after it (ockamtop export, apply
	// --engine): see File.Engine.
	Engine bool
}

// EnvPrefix starts the names of environment variables that set topology
// variables: OCKAMTOP_VAR_target_port=9000.
const EnvPrefix = "OCKAMTOP_VAR_"

// OverridesFromEnv returns overrides with the process environment.
func OverridesFromEnv(vars []string) Overrides {
	return Overrides{Vars: vars, Env: os.Environ()}
}

// flagRange is where a diagnostic about a --var flag points: nowhere in
// the file.
var flagRange = hcl.Range{Filename: "<flags>", Start: hcl.InitialPos, End: hcl.InitialPos}

func applyOverrides(vars []*Variable, o Overrides) hcl.Diagnostics {
	var diags hcl.Diagnostics
	byName := map[string]*Variable{}
	names := make([]string, 0, len(vars))
	for _, v := range vars {
		byName[v.Name] = v
		names = append(names, v.Name)
	}
	slices.Sort(names)
	set := func(name, text, source string, strict bool) {
		v, ok := byName[name]
		if !ok {
			if strict {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Value for undeclared variable",
					Detail: fmt.Sprintf("%s sets variable %q, which the file does not declare. Declared variables: %s.",
						source, name, quoteList(names)) + DidYouMean(name, names),
				})
			}
			return
		}
		val, err := parseOverride(text, v.Default)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for variable",
				Detail:   fmt.Sprintf("%s sets variable %q to %q: %s.", source, name, text, err),
				Subject:  v.DeclRange.Ptr(),
			})
			return
		}
		v.Value = val
	}
	// The environment first, so that flags win.
	for _, kv := range o.Env {
		k, val, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, EnvPrefix) {
			set(strings.TrimPrefix(k, EnvPrefix), val, "Environment variable "+k, false)
		}
	}
	for _, kv := range o.Vars {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid --var option",
				Detail:   fmt.Sprintf("The option --var %q needs the form NAME=VALUE.", kv),
			})
			continue
		}
		set(k, val, "The option --var "+k, true)
	}
	for _, v := range vars {
		if v.Value == cty.NilVal {
			diags = append(diags, ErrorAt(v.DeclRange, "No value for required variable",
				"Variable %q has no default. Set it with --var %s=VALUE or the environment variable %s%s.",
				v.Name, v.Name, EnvPrefix, v.Name))
		}
	}
	return diags
}

// parseOverride reads text as a value of the default's type: a number for a
// number default, a bool for a bool, a string otherwise.
func parseOverride(text string, def cty.Value) (cty.Value, error) {
	want := cty.String
	if def != cty.NilVal && !def.IsNull() && def.Type().IsPrimitiveType() {
		want = def.Type()
	}
	val, err := convert.Convert(cty.StringVal(text), want)
	if err != nil {
		return cty.NilVal, fmt.Errorf("want a %s", want.FriendlyName())
	}
	return val, nil
}
