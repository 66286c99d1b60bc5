package bloom

import (
	"bytes"
	"errors"
	"testing"
)

func TestFilter_WriteRead(t *testing.T) {
	f := New(10_000)
	for i := range uint64(10_000) {
		f.Add(i * 0x9e3779b97f4a7c15)
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	g, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(10_000) {
		if !g.MayContain(i * 0x9e3779b97f4a7c15) {
			t.Fatalf("key %d lost in the round trip", i)
		}
	}
	if g.Capacity() != f.Capacity() || g.Bytes() != f.Bytes() {
		t.Fatalf("read a filter of %d keys, %d bytes; wrote %d, %d", g.Capacity(), g.Bytes(), f.Capacity(), f.Bytes())
	}
	// Every cut and every flipped byte is refused.
	b := buf.Bytes()
	for _, n := range []int{0, 7, 24, len(b) / 2, len(b) - 1} {
		if _, err := Read(bytes.NewReader(b[:n])); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d: %v, want ErrCorrupt", n, err)
		}
	}
	for _, i := range []int{0, 9, 17, 30, len(b) - 1} {
		c := bytes.Clone(b)
		c[i] ^= 1
		if _, err := Read(bytes.NewReader(c)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("byte %d flipped: %v, want ErrCorrupt", i, err)
		}
	}
	if _, err := Read(bytes.NewReader(append(bytes.Clone(b), 0))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a trailing byte: %v, want ErrCorrupt", err)
	}
}

// FuzzRead: Read never panics, and what it accepts it writes back the same.
func FuzzRead(f *testing.F) {
	g := New(100)
	g.Add(42)
	var buf bytes.Buffer
	g.WriteTo(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte("sluicebf"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if _, err := h.WriteTo(&out); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), b) {
			t.Fatal("read and written again, the bytes differ")
		}
	})
}
