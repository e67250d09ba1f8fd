package wire

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// unhex reads hex written with spaces and "|" separators for legibility.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", "|", "", "\n", "", "\t", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

var (
	echo  = routing.LocalAddress("echo")
	app   = routing.LocalAddress("app")
	hello = []byte{0x05, 'h', 'e', 'l', 'l', 'o'} // BARE "hello"
)

// Golden frames, written out by hand from the format: each one is encoded
// from its message and decoded back to it.
var goldenFrames = []struct {
	name  string
	msg   routing.Message
	frame string
}{
	{
		name: "hello to echo",
		msg:  routing.Message{Onward: routing.NewRoute(echo), Payload: hello},
		frame: `00 00 00 11 | 83
			| 81 82 00 44 65 63 68 6f
			| 80
			| 46 05 68 65 6c 6c 6f`,
	},
	{
		name: "with a tracing context",
		msg:  routing.Message{Onward: routing.NewRoute(echo), Payload: hello, Tracing: "{}"},
		frame: `00 00 00 14 | 84
			| 81 82 00 44 65 63 68 6f
			| 80
			| 46 05 68 65 6c 6c 6f
			| 62 7b 7d`,
	},
	{
		name: "tcp hop, return route, empty payload",
		msg: routing.Message{
			Onward: routing.NewRoute(routing.TCPAddress("127.0.0.1:4000"), echo),
			Return: routing.NewRoute(app),
		},
		frame: `00 00 00 22 | 83
			| 82 82 01 4e 31 32 37 2e 30 2e 30 2e 31 3a 34 30 30 30
			     82 00 44 65 63 68 6f
			| 81 82 00 43 61 70 70
			| 40`,
	},
	{
		name: "payload of 24 bytes takes a one-byte length",
		msg:  routing.Message{Onward: routing.NewRoute(echo), Payload: bytes.Repeat([]byte{0xaa}, 24)},
		frame: `00 00 00 24 | 83
			| 81 82 00 44 65 63 68 6f
			| 80
			| 58 18 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`,
	},
}

func TestGoldenFrames(t *testing.T) {
	for _, g := range goldenFrames {
		t.Run(g.name, func(t *testing.T) {
			want := unhex(t, g.frame)
			got, err := AppendFrame(nil, &g.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encode:\n got %x\nwant %x", got, want)
			}
			body, err := ReadFrame(bytes.NewReader(want), nil)
			if err != nil {
				t.Fatal(err)
			}
			m, err := DecodeBody(body)
			if err != nil {
				t.Fatal(err)
			}
			assertSameMessage(t, m, g.msg)
		})
	}
}

// Bodies other encoders may send, which decode to known messages.
func TestDecodeTolerates(t *testing.T) {
	want := routing.Message{Onward: routing.NewRoute(echo), Payload: hello, Tracing: "{}"}
	for _, tc := range []struct{ name, body string }{
		{"an unknown trailing item", `85 81 82 00 44 65 63 68 6f | 80 | 46 05 68 65 6c 6c 6f | 62 7b 7d | 18 2a`},
		{"an unknown nested trailing item", `85 81 82 00 44 65 63 68 6f | 80 | 46 05 68 65 6c 6c 6f | 62 7b 7d | a1 01 82 02 9f 03 ff`},
		{"indefinite arrays", `9f 9f 82 00 44 65 63 68 6f ff | 9f ff | 46 05 68 65 6c 6c 6f | 62 7b 7d ff`},
		{"non-minimal lengths", `98 04 81 82 00 58 04 65 63 68 6f | 80 | 59 00 06 05 68 65 6c 6c 6f | 62 7b 7d`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodeBody(unhex(t, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			assertSameMessage(t, m, want)
		})
	}
	m, err := DecodeBody(unhex(t, `84 81 82 00 44 65 63 68 6f | 80 | 46 05 68 65 6c 6c 6f | f6`))
	if err != nil || m.Tracing != "" {
		t.Fatalf("null tracing context: %v %q", err, m.Tracing)
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, tc := range []struct{ name, body, says string }{
		{"empty", ``, "truncated"},
		{"not an array", `a0`, "want an array"},
		{"two items", `82 80 80`, "2 items"},
		{"truncated payload", `83 80 80 46 05 68`, "6 bytes announced"},
		{"address is not an array", `83 81 00 80 40`, "want an array"},
		{"address with one item", `83 81 81 00 80 40`, "1 items"},
		{"transport type over 255", `83 81 82 19 01 00 40 80 40`, "over 255"},
		{"address value as text", `83 81 82 00 64 65 63 68 6f 80 40`, "want major type 2"},
		{"payload as array", `83 80 80 80`, "want major type 2"},
		{"huge array count", `83 9b 00 00 00 01 00 00 00 00 80 40`, "truncated"},
		{"trailing bytes", `83 80 80 40 00`, "1 bytes after"},
		{"reserved head", `83 80 80 5c`, "reserved"},
		{"too deep", `85 80 80 40 60 ` + strings.Repeat("81", 40) + `00`, "nested deeper"},
		{"unterminated indefinite", `9f 80 80 40`, "truncated"},
		{"tracing as bytes", `84 80 80 40 41 00`, "want major type 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeBody(unhex(t, tc.body))
			if !errors.Is(err, ErrMalformedBody) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("DecodeBody = %v, want ErrMalformedBody saying %q", err, tc.says)
			}
		})
	}
}

func TestReadFrameLimits(t *testing.T) {
	_, err := ReadFrame(bytes.NewReader(unhex(t, `01 00 00 01`)), nil)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized length: %v", err)
	}
	_, err = ReadFrame(bytes.NewReader(unhex(t, `00 00 00 05 83 80`)), nil)
	if err == nil || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Fatalf("truncated body: %v", err)
	}
	big := routing.Message{Onward: routing.NewRoute(echo), Payload: make([]byte, MaxBodySize)}
	if _, err := AppendFrame(nil, &big); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("encoding an oversized body: %v", err)
	}
}

func assertSameMessage(t *testing.T, got, want routing.Message) {
	t.Helper()
	if !got.Onward.Equal(want.Onward) || !got.Return.Equal(want.Return) ||
		!bytes.Equal(got.Payload, want.Payload) || got.Tracing != want.Tracing {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
}

// FuzzFrame feeds arbitrary bytes to the frame reader and decoder. They must
// never panic, and whatever decodes must encode and decode back to itself.
func FuzzFrame(f *testing.F) {
	for _, g := range goldenFrames {
		f.Add(unhex(f, g.frame))
	}
	f.Add(unhex(f, `00 00 00 0a 85 80 80 40 60 a1 01 82 02 03`))
	f.Add(unhex(f, `ff ff ff ff`))
	f.Fuzz(func(t *testing.T, data []byte) {
		body, err := ReadFrame(bytes.NewReader(data), nil)
		if err != nil {
			return
		}
		m, err := DecodeBody(body)
		if err != nil {
			return
		}
		again, err := AppendFrame(nil, &m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		body2, err := ReadFrame(bytes.NewReader(again), nil)
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		m2, err := DecodeBody(body2)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(normal(m), normal(m2)) {
			t.Fatalf("round trip changed the message: %+v -> %+v", m, m2)
		}
	})
}

// normal makes empty and nil equal for comparison.
func normal(m routing.Message) routing.Message {
	if len(m.Onward) == 0 {
		m.Onward = nil
	}
	if len(m.Return) == 0 {
		m.Return = nil
	}
	if len(m.Payload) == 0 {
		m.Payload = nil
	}
	return m
}

// DecodeBodyVia is DecodeBody with the connection pushed onto the return
// route, as the receiving transport does.
func TestDecodeBodyVia(t *testing.T) {
	via := routing.LocalAddress("conn")
	for _, m := range []routing.Message{
		{Onward: routing.Route{routing.LocalAddress("echo")}, Return: routing.Route{routing.LocalAddress("app"), routing.TCPAddress("127.0.0.1:4000")}, Payload: []byte("hi")},
		{Onward: routing.Route{routing.LocalAddress("echo")}},
	} {
		body := AppendBody(nil, &m)
		got, err := DecodeBodyVia(body, via)
		if err != nil {
			t.Fatal(err)
		}
		want, err := DecodeBody(body)
		if err != nil {
			t.Fatal(err)
		}
		want.Return = want.Return.Prepend(via)
		if got.Onward.String() != want.Onward.String() || got.Return.String() != want.Return.String() || string(got.Payload) != string(want.Payload) {
			t.Errorf("DecodeBodyVia = %+v, want %+v", got, want)
		}
	}
}

// PeekFrameLength reads what ReadFrameLength reads, and tells a clean end
// from one inside the prefix.
func TestPeekFrameLength(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want int
		err  error
	}{
		{[]byte{0, 0, 1, 0, 0xaa}, 256, nil},
		{nil, 0, io.EOF},
		{[]byte{0, 0}, 0, io.ErrUnexpectedEOF},
		{[]byte{0xff, 0xff, 0xff, 0xff}, 0, ErrFrameTooLarge},
	} {
		n, err := PeekFrameLength(bufio.NewReader(bytes.NewReader(tc.in)))
		if n != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("%x: got %d, %v; want %d, %v", tc.in, n, err, tc.want, tc.err)
		}
	}
}

// A route over the limit is refused before it is read: a frame of tiny
// addresses costs no memory for them, whether its length is given or not.
func TestDecodeRefusesLongRoutesEarly(t *testing.T) {
	// [[x 200 times] , [], h''], with each address [0, h'']: 3 bytes.
	addr := []byte{0x82, 0x00, 0x40}
	definite := append([]byte{0x83, 0x98, 200}, bytes.Repeat(addr, 200)...)
	definite = append(definite, 0x80, 0x40)
	indefinite := append([]byte{0x83, 0x9f}, bytes.Repeat(addr, 200)...)
	indefinite = append(indefinite, 0xff, 0x80, 0x40)
	for name, body := range map[string][]byte{"definite": definite, "indefinite": indefinite} {
		allocs := testing.AllocsPerRun(10, func() { _, _ = DecodeBody(body) })
		_, err := DecodeBody(body)
		if !errors.Is(err, ErrRouteTooLong) || !errors.Is(err, ErrMalformedBody) {
			t.Errorf("%s: %v, want ErrRouteTooLong", name, err)
		}
		if allocs > 140 { // the error's, and at most the limit's addresses
			t.Errorf("%s: %v allocations", name, allocs)
		}
	}
}

// A frame's head decodes from any prefix that holds it, the same as from
// the whole body; a shorter prefix is ErrShortHead, never an error about
// the message. The rest decodes after the payload, and a frame written
// around a payload is the same bytes as one written with it.
func TestHeadAndRest(t *testing.T) {
	via := routing.LocalAddress("conn")
	m := &routing.Message{
		Onward:  routing.Route{routing.LocalAddress("hop"), routing.TCPAddress("127.0.0.1:4000")},
		Return:  routing.Route{routing.LocalAddress("stream")},
		Payload: bytes.Repeat([]byte{7}, 300),
		Tracing: "trace",
	}
	frame, err := AppendFrame(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	body := frame[4:]
	whole, err := DecodeBodyVia(body, via)
	if err != nil {
		t.Fatal(err)
	}
	full, err := DecodeHeadVia(body, via)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		h, err := DecodeHeadVia(body[:i], via)
		if i < full.PayloadAt {
			if !errors.Is(err, ErrShortHead) {
				t.Fatalf("prefix of %d bytes: %v, want ErrShortHead", i, err)
			}
			continue
		}
		if err != nil || h.PayloadAt != full.PayloadAt || h.PayloadLen != len(m.Payload) {
			t.Fatalf("prefix of %d bytes: %+v, %v", i, h, err)
		}
		if !reflect.DeepEqual(h.Message.Onward, whole.Onward) || !reflect.DeepEqual(h.Message.Return, whole.Return) {
			t.Fatalf("prefix of %d bytes: routes %v %v, want %v %v", i, h.Message.Onward, h.Message.Return, whole.Onward, whole.Return)
		}
	}
	if err := full.DecodeRest(body[full.PayloadAt+full.PayloadLen:]); err != nil || full.Message.Tracing != "trace" {
		t.Fatalf("rest: %q, %v", full.Message.Tracing, err)
	}
	if err := full.DecodeRest([]byte{0x1c}); !errors.Is(err, ErrMalformedBody) {
		t.Fatalf("a bad rest: %v", err)
	}
	around, at, err := AppendFrameAround(nil, m, len(m.Payload))
	if err != nil {
		t.Fatal(err)
	}
	joined := append(append(append([]byte(nil), around[:at]...), m.Payload...), around[at:]...)
	if !bytes.Equal(joined, frame) {
		t.Fatalf("around a payload:\n%x\nwith it:\n%x", joined, frame)
	}
	if _, err := DecodeHeadVia([]byte{0x83, 0x80, 0x80, 0x60}, via); !errors.Is(err, ErrMalformedBody) {
		t.Fatalf("a text payload: %v", err)
	}
}

// Reading a body as head, payload and rest (as a splicing reader does)
// agrees with reading it whole, for any bytes; neither panics.
func FuzzHeadAndRest(f *testing.F) {
	frame, _ := AppendFrame(nil, &routing.Message{
		Onward: routing.Route{routing.LocalAddress("echo")}, Return: routing.Route{routing.LocalAddress("me")},
		Payload: []byte("hello"), Tracing: "t",
	})
	f.Add(frame[4:])
	f.Add([]byte{0x9f, 0x80, 0x80, 0x41, 0x00, 0xff})
	f.Fuzz(func(t *testing.T, body []byte) {
		via := routing.LocalAddress("via")
		whole, werr := DecodeBodyVia(body, via)
		h, herr := DecodeHeadVia(body, via)
		if werr == nil && herr != nil {
			t.Fatalf("whole decodes, head does not: %v", herr)
		}
		if herr != nil {
			return
		}
		end := h.PayloadAt + h.PayloadLen
		if end > len(body) {
			if werr == nil {
				t.Fatal("whole decodes with a payload past the end")
			}
			return
		}
		rerr := h.DecodeRest(body[end:])
		if (rerr == nil) != (werr == nil) {
			t.Fatalf("whole: %v; head and rest: %v", werr, rerr)
		}
		if werr == nil && (!reflect.DeepEqual(whole.Onward, h.Message.Onward) || !reflect.DeepEqual(whole.Return, h.Message.Return) ||
			whole.Tracing != h.Message.Tracing || !bytes.Equal(whole.Payload, body[h.PayloadAt:end])) {
			t.Fatalf("whole %+v, head %+v", whole, h.Message)
		}
	})
}
