package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// bareHandlerMode is the hidden mode "sluice bench bare-handler --listen
// ADDR [--durable DIR]": the HTTP ceiling of the suite, and with --durable
// its durable ceiling.
const bareHandlerMode = "bare-handler"

// bare serves, with the serve command's server settings and until ctx is
// done, a handler that reads the body and answers 202; with --durable DIR,
// one that hands the body to the group committer of a file in DIR and
// answers 200 once it is written and fdatasync'd. It logs "listening" as
// serve does.
func (c *BenchCommand) bare(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "")
	durable := fs.String("durable", "", "")
	if err := c.parseFlags(fs, args, benchUsage); err != nil {
		return err
	}
	log := newLogger(c.Stderr)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	})
	mode := "bare"
	if *durable != "" {
		gc, err := newGroupCommitter(filepath.Join(*durable, "ceiling.log"))
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer gc.close()
		h, mode = gc.handle, "durable"
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	hs := newHTTPServer(h, log)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "handler", mode)
	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("bench: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}

// ceilingWrap is the size past which the durable ceiling's file starts
// again from empty, so that a long run does not fill the disk; each write
// still appends (and so changes the file's size, as a log's do).
const ceilingWrap = 1 << 30

// groupCommitter is the least a durable HTTP ingest does: each request's
// body goes to one goroutine that appends whatever has queued meanwhile
// with one write and one fdatasync, then answers every request of the
// group. No parsing, no index: the durable ceiling of the suite.
type groupCommitter struct {
	f       *os.File
	pending chan *pendingBody
	done    chan struct{}
}

// pendingBody is one request's body waiting for its group's commit.
type pendingBody struct {
	body []byte
	err  chan error
}

func newGroupCommitter(path string) (*groupCommitter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	g := &groupCommitter{f: f, pending: make(chan *pendingBody, 1024), done: make(chan struct{})}
	go g.loop()
	return g, nil
}

// handle reads the body, waits for its commit and answers 200.
func (g *groupCommitter) handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p := &pendingBody{body: body, err: make(chan error, 1)}
	g.pending <- p
	if err := <-p.err; err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// loop commits groups: it waits for one body, takes every other one queued
// by then, writes them at once and fdatasyncs.
func (g *groupCommitter) loop() {
	defer close(g.done)
	var buf []byte
	var group []*pendingBody
	size := 0
	for p := range g.pending {
		group, buf = append(group[:0], p), append(buf[:0], p.body...)
	more:
		for {
			select {
			case q, ok := <-g.pending:
				if !ok {
					break more
				}
				group, buf = append(group, q), append(buf, q.body...)
			default:
				break more
			}
		}
		err := g.write(buf, &size)
		for _, q := range group {
			q.err <- err
		}
	}
}

// write appends buf with one write and one fdatasync, starting the file
// again from empty past ceilingWrap; size is the file's size.
func (g *groupCommitter) write(buf []byte, size *int) error {
	if *size+len(buf) > ceilingWrap {
		if err := g.f.Truncate(0); err != nil {
			return err
		}
		*size = 0
	}
	if _, err := g.f.Write(buf); err != nil {
		return err
	}
	*size += len(buf)
	return syscall.Fdatasync(int(g.f.Fd()))
}

// close stops the loop (once the server no longer sends) and closes the
// file.
func (g *groupCommitter) close() {
	close(g.pending)
	<-g.done
	g.f.Close()
}
