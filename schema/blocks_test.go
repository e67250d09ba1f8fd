package schema

import (
	"reflect"
	"slices"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// Every attribute and block of every block's schema is a tagged field of
// what the block decodes to, and every other field is a name or a range:
// so Attributes, and the plans made from it, see all that a file says.
func TestBlockTypesTagEveryAttribute(t *testing.T) {
	rangeType := reflect.TypeFor[hcl.Range]()
	// Fields that hold no attribute of their own, and why.
	derived := map[string]string{
		"Variable.Value": "the default or the user's override, seen through the attributes that use it",
	}
	for _, bt := range BlockTypes() {
		st := reflect.TypeOf(bt.Decoded).Elem()
		tagged := map[string]bool{}
		for i := range st.NumField() {
			f := st.Field(i)
			name, part := attrTag(f)
			switch {
			case name != "":
				tagged[name] = true
				isBlock := slices.ContainsFunc(bt.Body.Blocks, func(b hcl.BlockHeaderSchema) bool { return b.Type == name })
				isAttr := slices.ContainsFunc(bt.Body.Attributes, func(a hcl.AttributeSchema) bool { return a.Name == name })
				if !isBlock && !isAttr {
					t.Errorf("%s.%s is tagged %q, which block %s's schema does not have", st.Name(), f.Name, name, bt.Name)
				}
				if isBlock && !part {
					t.Errorf("%s.%s holds the nested block %q: tag it `hcl:\"%s,part\"`", st.Name(), f.Name, name, name)
				}
			case f.Type == rangeType, f.Name == "Name", !f.IsExported():
			case derived[st.Name()+"."+f.Name] != "":
			default:
				t.Errorf("%s.%s has no `hcl` tag: name the attribute it decodes, or say why it has none", st.Name(), f.Name)
			}
		}
		for _, a := range bt.Body.Attributes {
			if !tagged[a.Name] {
				t.Errorf("block %s: attribute %q is decoded into no tagged field of %s", bt.Name, a.Name, st.Name())
			}
		}
		for _, b := range bt.Body.Blocks {
			if !tagged[b.Type] {
				t.Errorf("block %s: nested block %q is decoded into no tagged field of %s", bt.Name, b.Type, st.Name())
			}
			if !slices.ContainsFunc(BlockTypes(), func(x BlockType) bool { return x.Name == b.Type && x.Parent == bt.Name }) {
				t.Errorf("block %s: nested block %q is not in BlockTypes", bt.Name, b.Type)
			}
		}
	}
}

func TestAttributes(t *testing.T) {
	in := &Inlet{Name: "web", From: String{Value: "127.0.0.1:6000"}, To: String{Value: "/service/outlet"}, MaxStreams: 8}
	want := []Attribute{{"from", `"127.0.0.1:6000"`}, {"to", `"/service/outlet"`}, {"max_streams", "8"}}
	if got := Attributes(in); !slices.Equal(got, want) {
		t.Errorf("Attributes(inlet) = %v, want %v", got, want)
	}
	n := &Node{Name: "n1", TCPListener: &String{Value: "127.0.0.1:0"}, Allow: []String{{Value: "a"}, {Value: "b"}},
		Networks: []Ref{{Kind: "network", Name: "lan"}}}
	want = []Attribute{{"allow", `["a", "b"]`}, {"identity", "null"}, {"networks", "[network.lan]"}}
	if got := Attributes(n); !slices.Equal(got, want) {
		t.Errorf("Attributes(node) = %v, want %v (its listener and blocks are parts of their own)", got, want)
	}
	l := &SecureChannelListener{Trust: []Trusted{{Node: &Ref{Kind: "node", Name: "n1"}}, {Identifier: String{Value: "I00"}}}}
	if got, want := Attributes(l), []Attribute{{"trust", `[node.n1, "I00"]`}}; !slices.Equal(got, want) {
		t.Errorf("Attributes(listener) = %v, want %v", got, want)
	}
	if got, want := Attributes(&SecureChannelListener{}), []Attribute{{"trust", "null"}}; !slices.Equal(got, want) {
		t.Errorf("no trust list: %v, want %v", got, want)
	}
}
