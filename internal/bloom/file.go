package bloom

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
)

// The encoding of a filter, so that a store need not rebuild it at every
// open (50 million hashes read from SQLite take most of a minute):
//
//	8 bytes  "sluicebf"
//	uint64   capacity
//	uint64   blocks
//	blocks × 8 × uint32, the words
//	uint32   CRC-32C of everything before it
//
// all little-endian.
const magic = "sluicebf"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is returned by Read for bytes that are not a whole filter.
var ErrCorrupt = errors.New("bloom: corrupt filter")

// WriteTo writes the filter's encoding to w. It must not run with Add.
func (f *Filter) WriteTo(w io.Writer) (int64, error) {
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 1<<16)
	b := make([]byte, 0, 24)
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(f.capacity))
	b = binary.LittleEndian.AppendUint64(b, f.blocks)
	bw.Write(b)
	for _, word := range f.words {
		b = binary.LittleEndian.AppendUint32(b[:0], word)
		bw.Write(b)
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	_, err := w.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
	return int64(24 + len(f.words)*4 + 4), err
}

// Read reads a filter that WriteTo wrote, whole: ErrCorrupt for anything
// else (a short or torn file, another format), other errors from r.
func Read(r io.Reader) (*Filter, error) {
	crc := crc32.New(castagnoli)
	br := bufio.NewReaderSize(r, 1<<16)
	tr := io.TeeReader(br, crc)
	var head [24]byte
	if _, err := io.ReadFull(tr, head[:]); err != nil {
		return nil, corrupt(err)
	}
	capacity, blocks := binary.LittleEndian.Uint64(head[8:]), binary.LittleEndian.Uint64(head[16:])
	// A filter of more than 1 << 40 keys is no filter this package made.
	if string(head[:8]) != magic || blocks == 0 || capacity > 1<<40 || blocks != blocksFor(int(capacity)) {
		return nil, ErrCorrupt
	}
	// The words grow as they are read, doubling up to the size the header
	// gives: a header that lies about the size costs no more memory than
	// twice the bytes that follow it, and a true one ends with no room to
	// spare (an append's growth left a quarter more than a 92 MiB filter).
	want := int(blocks * 8)
	f := &Filter{words: make([]uint32, 0, min(want, 1<<16)), blocks: blocks, capacity: int(capacity)}
	var buf [4096]byte
	for len(f.words) < want {
		if len(f.words) == cap(f.words) {
			f.words = slices.Grow(f.words, min(want, 2*cap(f.words))-len(f.words))
		}
		n := min(len(buf)/4, want-len(f.words))
		if _, err := io.ReadFull(tr, buf[:n*4]); err != nil {
			return nil, corrupt(err)
		}
		for j := range n {
			f.words = append(f.words, binary.LittleEndian.Uint32(buf[j*4:]))
		}
	}
	var sum [4]byte
	if _, err := io.ReadFull(br, sum[:]); err != nil {
		return nil, corrupt(err)
	}
	if binary.LittleEndian.Uint32(sum[:]) != crc.Sum32() {
		return nil, ErrCorrupt
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, ErrCorrupt // trailing bytes
	}
	return f, nil
}

func corrupt(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrCorrupt
	}
	return fmt.Errorf("read filter: %w", err)
}
