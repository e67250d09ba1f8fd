package portal

import (
	"testing"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/secure"
)

// A portal stream leaves room before the data it reads for a secure
// channel to seal the message where it is (runtime/securechannel's
// sealInPlace): the nonce and the plaintext's head, which holds the onward
// route past the encryptor (an outlet's name) and the stream's address to
// answer to.
func TestPayloadHeadroomSeals(t *testing.T) {
	onward := routing.Route{routing.LocalAddress("an_outlet_with_a_long_name")}
	ret := routing.Route{routing.LocalAddress(runtime.RandomAddress())}
	for _, n := range []int{1 << 10, DefaultChunk, LargeChunk} {
		head := secure.AppendPayloadHead(nil, onward, ret, payloadHeaderMax+n+seqSize)
		if need := 8 + len(head); need > payloadHeadroom-payloadHeaderMax {
			t.Errorf("%d bytes: sealing in place needs %d bytes before the Payload header, the stream leaves %d", n, need, payloadHeadroom-payloadHeaderMax)
		}
	}
}
