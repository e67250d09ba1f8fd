package export

import (
	"io"
	"testing"

	"github.com/sirupsen/logrus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// compose-go warns, through logrus, that Compose no longer needs the
	// version that docker stack deploy still asks for: known, and kept.
	logrus.SetOutput(io.Discard)
	goleak.VerifyTestMain(m)
}
