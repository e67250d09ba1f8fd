package runtime_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/ockamtop/ockamtop/runtime/splice"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(splice.LeakCheck(m))
}
