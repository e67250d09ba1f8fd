package schema

import (
	"os"
	"regexp"
	"testing"
)

// docs/language.md documents every block and every attribute of the
// language: each is named in a row of its tables (`NAME` in the first
// column), so that a new attribute without a line there fails here.
func TestLanguagePageNamesEveryAttribute(t *testing.T) {
	src, err := os.ReadFile("../docs/language.md")
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, m := range tableName.FindAllSubmatch(src, -1) {
		named[string(m[1])] = true
	}
	for _, bt := range BlockTypes() {
		if !named[bt.Name] {
			t.Errorf("docs/language.md has no row for block %s", bt.Name)
		}
		for _, a := range bt.Body.Attributes {
			if !named[a.Name] && !mentioned(src, bt.Name, a.Name) {
				t.Errorf("docs/language.md does not document attribute %s of block %s", a.Name, bt.Name)
			}
		}
	}
}

// tableName is the first name in backquotes of a table row's first
// column: `node "NAME"` gives node, `tcp_listener` gives tcp_listener.
var tableName = regexp.MustCompile("(?m)^\\| `([a-z_]+)")

// mentioned is whether the row of block names attribute, as `attribute`
// or `attribute = ...`.
func mentioned(src []byte, block, attribute string) bool {
	row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(block) + "[^\n]*`" + regexp.QuoteMeta(attribute) + "[` =]")
	return row.Match(src)
}
