package schema

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// MaxNesting bounds how deeply a topology file may nest. hcl's parser is
// recursive descent, and the expressions it builds are walked recursively:
// a file nested some hundred thousand levels deep (200 KB of "[") exhausts
// the goroutine stack, which in Go is a fatal error, not a panic, and would
// take a running apply down with the file it reloads. So the depth is
// measured before parsing, on the lexer's tokens (hcl's lexer is a state
// machine, not recursive). A hand-written file nests a few levels; 256 is
// far from both that and what the stack can hold (see TestMaxNestingParses).
const MaxNesting = 256

// nestFrame is one open level: a bracket, brace, parenthesis, template
// (quoted string or heredoc), interpolation or template directive.
type nestFrame struct {
	// closer is the token that ends the frame; for an %{if} or %{for}
	// directive, which ends at %{endif} or %{endfor}, it is the opener and
	// directive says which.
	closer    hclsyntax.TokenType
	directive string
	// newlines is whether a newline ends an expression in the frame, as it
	// does in a body and an object constructor; other frames ignore them.
	newlines bool
	// ops counts the operators of the expression being read in the frame:
	// each adds a level to the tree the parser builds (a chain of binary
	// operators is left-deep, unary operators and "?" recurse).
	ops int
}

// checkNesting refuses source that nests deeper than MaxNesting: brackets,
// braces, parentheses, templates, interpolations and %{if}/%{for}
// directives each open a level, and each operator, index and splat counts
// a level in the expression it is part of until a comma (or a newline,
// where a newline ends an expression) starts the next. The measure is
// never lower than the depth of the parser's recursion, and on a real file
// it is the few levels one sees.
func checkNesting(filename string, src []byte) hcl.Diagnostics {
	// Lexing errors are the parser's to report; the tokens are what it
	// will see.
	toks, _ := hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	stack := []nestFrame{{closer: hclsyntax.TokenEOF, newlines: true}}
	depth := 0
	// open and op return false once the depth is over the limit.
	open := func(f nestFrame) bool {
		stack = append(stack, f)
		depth++
		return depth <= MaxNesting
	}
	op := func() bool {
		stack[len(stack)-1].ops++
		depth++
		return depth <= MaxNesting
	}
	closeTop := func() {
		depth -= 1 + stack[len(stack)-1].ops
		stack = stack[:len(stack)-1]
	}
	endExpr := func() {
		top := &stack[len(stack)-1]
		depth -= top.ops
		top.ops = 0
	}
	for i, tok := range toks {
		top := stack[len(stack)-1]
		ok := true
		switch tok.Type {
		case hclsyntax.TokenOBrace:
			ok = open(nestFrame{closer: hclsyntax.TokenCBrace, newlines: !opensFor(toks[i+1:])})
		case hclsyntax.TokenOBrack:
			if postfix(prevToken(toks[:i])) {
				ok = op() // an index or a splat: a level of its own
			}
			ok = ok && open(nestFrame{closer: hclsyntax.TokenCBrack})
		case hclsyntax.TokenOParen:
			ok = open(nestFrame{closer: hclsyntax.TokenCParen})
		case hclsyntax.TokenOQuote:
			ok = open(nestFrame{closer: hclsyntax.TokenCQuote})
		case hclsyntax.TokenOHeredoc:
			ok = open(nestFrame{closer: hclsyntax.TokenCHeredoc})
		case hclsyntax.TokenTemplateInterp:
			ok = open(nestFrame{closer: hclsyntax.TokenTemplateSeqEnd})
		case hclsyntax.TokenTemplateControl:
			switch keyword := nextIdent(toks[i+1:]); keyword {
			case "if", "for":
				ok = open(nestFrame{closer: hclsyntax.TokenTemplateControl, directive: keyword})
			case "endif", "endfor":
				if top.closer == hclsyntax.TokenTemplateControl && "end"+top.directive == keyword {
					closeTop()
				}
			}
			ok = ok && open(nestFrame{closer: hclsyntax.TokenTemplateSeqEnd})
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenCQuote,
			hclsyntax.TokenCHeredoc, hclsyntax.TokenTemplateSeqEnd:
			// A closer that does not match is a syntax error, reported
			// by the parser; keeping its frame open only overcounts.
			if top.closer == tok.Type {
				closeTop()
			}
		case hclsyntax.TokenComma:
			endExpr()
		case hclsyntax.TokenNewline:
			if top.newlines {
				endExpr()
			}
		case hclsyntax.TokenComment:
			// The parser reads a line comment's newline as one.
			if top.newlines && len(tok.Bytes) > 0 && tok.Bytes[len(tok.Bytes)-1] == '\n' {
				endExpr()
			}
		case hclsyntax.TokenPlus, hclsyntax.TokenMinus, hclsyntax.TokenSlash, hclsyntax.TokenPercent,
			hclsyntax.TokenEqualOp, hclsyntax.TokenNotEqual, hclsyntax.TokenLessThan, hclsyntax.TokenLessThanEq,
			hclsyntax.TokenGreaterThan, hclsyntax.TokenGreaterThanEq, hclsyntax.TokenAnd, hclsyntax.TokenOr,
			hclsyntax.TokenBang, hclsyntax.TokenQuestion:
			ok = op()
		case hclsyntax.TokenStar:
			// The star of a splat (x[*], x.*) was counted at its "[" or ".".
			if prev := prevToken(toks[:i]).Type; prev != hclsyntax.TokenOBrack && prev != hclsyntax.TokenDot {
				ok = op()
			}
		case hclsyntax.TokenDot:
			// x.a.b is one traversal, flat; x.*.a.*.b nests a splat in a splat.
			if nextToken(toks[i+1:]).Type == hclsyntax.TokenStar {
				ok = op()
			}
		}
		if !ok {
			return hcl.Diagnostics{ErrorAt(tok.Range, "Nesting too deep",
				"%s nests more than %d levels deep here. Brackets, braces, parentheses, quoted strings, "+
					"heredocs, interpolations and template directives each open a level, and each operator "+
					"adds one to the expression it is in. A topology file is written by hand and nests a "+
					"few levels; make this one shallower, or check that the file is the one you meant.",
				filename, MaxNesting)}
		}
	}
	return nil
}

// postfix is whether a "[" after prev indexes what comes before it,
// rather than starting a tuple.
func postfix(prev hclsyntax.Token) bool {
	switch prev.Type {
	case hclsyntax.TokenIdent:
		// A for expression's keywords come before a tuple: [for x in [1] : x].
		switch string(prev.Bytes) {
		case "for", "in", "if":
			return false
		}
		return true
	case hclsyntax.TokenNumberLit, hclsyntax.TokenStar,
		hclsyntax.TokenCBrack, hclsyntax.TokenCParen, hclsyntax.TokenCBrace,
		hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc:
		return true
	}
	return false
}

// opensFor is whether the tokens after a "{" start a for expression,
// which unlike an object constructor or a body ignores newlines.
func opensFor(toks hclsyntax.Tokens) bool {
	return nextIdent(toks) == "for"
}

// nextIdent is the identifier that comes first in toks, past newlines and
// comments; "" if something else does.
func nextIdent(toks hclsyntax.Tokens) string {
	if t := nextToken(toks); t.Type == hclsyntax.TokenIdent {
		return string(t.Bytes)
	}
	return ""
}

// nextToken is the first token of toks that is not a newline or a
// comment: where newlines do not count, the parser skips them, and where
// they do, they have ended the expression already. TokenNil if none.
func nextToken(toks hclsyntax.Tokens) hclsyntax.Token {
	for _, t := range toks {
		if t.Type != hclsyntax.TokenNewline && t.Type != hclsyntax.TokenComment {
			return t
		}
	}
	return hclsyntax.Token{Type: hclsyntax.TokenNil}
}

// prevToken is the last token of toks that is not a newline or a comment;
// TokenNil if none.
func prevToken(toks hclsyntax.Tokens) hclsyntax.Token {
	for i := len(toks) - 1; i >= 0; i-- {
		if t := toks[i]; t.Type != hclsyntax.TokenNewline && t.Type != hclsyntax.TokenComment {
			return t
		}
	}
	return hclsyntax.Token{Type: hclsyntax.TokenNil}
}
