package main

import (
	"bytes"
	"crypto/rand"
	"io"
	"testing"
)

func TestSealedRecordsRoundTrip(t *testing.T) {
	data := make([]byte, 3*sealedRecord+12345)
	_, _ = rand.Read(data)
	var sealed bytes.Buffer
	// Reads of every size, as a socket's are.
	if n, err := sealCopy(&sealed, io.MultiReader(bytes.NewReader(data[:100]), bytes.NewReader(data[100:]))); err != io.EOF || n != int64(len(data)) {
		t.Fatalf("sealCopy: %d bytes, %v", n, err)
	}
	if sealed.Len() <= len(data) || bytes.Contains(sealed.Bytes(), data[200:264]) {
		t.Fatal("the records hold the plaintext")
	}
	records := bytes.Clone(sealed.Bytes())
	var opened bytes.Buffer
	if n, err := openCopy(&opened, &sealed); err != io.EOF || n != int64(len(data)) || !bytes.Equal(opened.Bytes(), data) {
		t.Fatalf("openCopy: %d bytes, %v; equal %v", n, err, bytes.Equal(opened.Bytes(), data))
	}
	records[len(records)/2] ^= 1
	if _, err := openCopy(io.Discard, bytes.NewReader(records)); err == nil || err == io.EOF {
		t.Fatalf("openCopy of a tampered record: %v", err)
	}
}
