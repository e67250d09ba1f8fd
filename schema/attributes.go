package schema

import (
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// Attribute is one attribute of a decoded block: its name and its value
// as HCL text, variables already substituted (`"127.0.0.1:7000"`,
// `node.n2`, `["a", "b"]`).
type Attribute struct {
	Name  string
	Value string
}

// Attributes lists the attributes of a decoded block (a *Relay, an
// *Inlet, ...) in the order of its struct, read from the fields tagged
// `hcl:"NAME"`. What the file did not set shows as the decoder left it:
// an absent optional value is "null", an absent count "0", an absent
// attribute with a default its default (an exec's timeout "30s"). A field tagged
// `hcl:"NAME,part"` is a part of its own (a node's listener, its relays)
// and is left out. The planner diffs parts by these lists, so every
// attribute that is decoded takes part in a plan.
func Attributes(decl any) []Attribute {
	v := reflect.ValueOf(decl)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct || !hasAttributes(v.Type()) {
		// An attribute that is a part itself, such as a listener.
		return []Attribute{{Value: Text(decl)}}
	}
	var out []Attribute
	for i := range v.NumField() {
		name, part := attrTag(v.Type().Field(i))
		if name == "" || part {
			continue
		}
		out = append(out, Attribute{Name: name, Value: Text(v.Field(i).Interface())})
	}
	return out
}

// hasAttributes reports whether a struct is a block's: one with fields
// tagged as attributes.
func hasAttributes(t reflect.Type) bool {
	for i := range t.NumField() {
		if _, ok := t.Field(i).Tag.Lookup("hcl"); ok {
			return true
		}
	}
	return false
}

// attrTag reads a field's `hcl` tag: the attribute or block name, and
// whether it is a part of its own.
func attrTag(f reflect.StructField) (name string, part bool) {
	tag, ok := f.Tag.Lookup("hcl")
	if !ok {
		return "", false
	}
	name, opts, _ := strings.Cut(tag, ",")
	return name, opts == "part"
}

// Text writes a decoded value as HCL would.
func Text(x any) string {
	switch x := x.(type) {
	case String:
		return strconv.Quote(x.Value)
	case *String:
		if x == nil {
			return "null"
		}
		return strconv.Quote(x.Value)
	case Ref:
		return x.Kind + "." + x.Name
	case *Ref:
		if x == nil {
			return "null"
		}
		return Text(*x)
	case Trusted:
		if x.Node != nil {
			return Text(*x.Node)
		}
		return Text(x.Identifier)
	case string:
		return strconv.Quote(x)
	case int:
		return strconv.Itoa(x)
	case time.Duration:
		return strconv.Quote(x.String())
	case *netip.Prefix:
		if x == nil {
			return "null"
		}
		return strconv.Quote(x.String())
	case cty.Value:
		if x == cty.NilVal || x.IsNull() || !x.IsWhollyKnown() {
			return "null"
		}
		return strconv.Quote(x.GoString())
	}
	v := reflect.ValueOf(x)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "null"
		}
		return Text(v.Elem().Interface())
	}
	if v.Kind() == reflect.Slice {
		if v.IsNil() {
			return "null"
		}
		items := make([]string, v.Len())
		for i := range items {
			items[i] = Text(v.Index(i).Interface())
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return fmt.Sprint(x)
}
