package main

// The three stream workloads of sfpeer client. Each returns true only if the stream did all
// it had to and every byte that came back was the byte that was sent.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand"
	"sync/atomic"
	"time"

	"github.com/xtaci/smux"
)

// bulkStream sends the stream's bytes (--bytes, or for --duration) while reading the echo,
// checking each byte at its offset and, at the end, the SHA-256 of both directions.
func (r *clientRun) bulkStream(st *smux.Stream, seed uint64, echoed func()) bool {
	total := r.opt.bytes // 0: send until the --duration is over
	stopAt := time.Now().Add(r.opt.duration)
	var written int64 // atomic: bytes handed to smux so far
	var got int64     // atomic: echoed bytes verified so far
	writerDone := make(chan error, 1)
	sentHash := sha256.New()
	r.sawFirstWrite(time.Now())
	go func() {
		buf := make([]byte, r.opt.writeSize)
		for off := int64(0); ; {
			n := int64(len(buf))
			if total > 0 {
				if off >= total {
					break
				}
				if total-off < n {
					n = total - off
				}
			} else if !time.Now().Before(stopAt) {
				break
			}
			r.data.fill(buf[:n], seed, off)
			sentHash.Write(buf[:n])
			if _, err := st.Write(buf[:n]); err != nil {
				writerDone <- err
				return
			}
			off += n
			atomic.StoreInt64(&written, off)
			atomic.AddInt64(&r.bytesSent, n)
		}
		writerDone <- nil
		// --duration: the reader may already hold every echoed byte and be waiting in Read for
		// more that will never come; a deadline in the past wakes it to see that it is done.
		// Reads are never given short poll deadlines instead: smux sends a stream's window
		// update under the stream's read deadline, and one that expires drops the update for
		// good (the peer's window then never reopens: a deadlock that is the client's own).
		if total == 0 && atomic.LoadInt64(&got) == atomic.LoadInt64(&written) {
			st.SetReadDeadline(time.Now())
		}
	}()

	recvHash := sha256.New()
	buf := make([]byte, 64<<10)
	writing := true
	var writeErr error
	ok := true
	for ok {
		if writing {
			select {
			case writeErr = <-writerDone:
				writing = false
			default:
			}
		}
		if writeErr != nil {
			r.errs.note(errorKind("write", writeErr), writeErr)
			ok = false
			break
		}
		if (total > 0 && got == total) || (!writing && got == atomic.LoadInt64(&written)) {
			break
		}
		n, err := st.Read(buf)
		if n > 0 {
			echoed()
			if total > 0 && got+int64(n) > total {
				r.errs.note("echo_excess", fmt.Errorf("%d bytes came back, %d were sent", got+int64(n), total))
				r.verifyFailed()
				ok = false
				break
			}
			if at := r.data.mismatch(buf[:n], seed, got); at >= 0 {
				r.errs.note("verify_mismatch", fmt.Errorf("first wrong byte at stream offset %d", got+int64(at)))
				r.verifyFailed()
				ok = false
				break
			}
			recvHash.Write(buf[:n])
			atomic.AddInt64(&got, int64(n))
			atomic.AddInt64(&r.bytesVerified, int64(n))
		}
		if err != nil {
			// the writer's wake-up (see above), which the loop's first check then confirms
			if total == 0 && isTimeout(err) && time.Now().Before(r.deadline) {
				continue
			}
			r.errs.note(errorKind("read", err), err)
			ok = false
		}
	}
	if writing {
		if !ok {
			st.Close() // releases a writer blocked in Write
		}
		if err := <-writerDone; err != nil && ok {
			r.errs.note(errorKind("write", err), err)
			ok = false
		}
	}
	if ok && !bytes.Equal(sentHash.Sum(nil), recvHash.Sum(nil)) {
		r.errs.note("verify_hash", errors.New("the SHA-256 of the echo differs from that of the data sent"))
		r.verifyFailed()
		ok = false
	}
	if ok {
		r.sawStreamDone(time.Now())
	}
	return ok
}

// pingStream sends one --ping-size message every --ping-interval (first one at a random phase)
// for --duration and times each complete echo. Ticks missed because an echo came late are
// skipped and counted.
func (r *clientRun) pingStream(st *smux.Stream, seed uint64, echoed func()) bool {
	every, size := r.opt.pingInterval, r.opt.pingSize
	msg := make([]byte, size)
	back := make([]byte, size)
	began := time.Now()
	end := began.Add(r.opt.duration)
	next := began.Add(time.Duration(mrand.Int63n(int64(every))))
	var rtts []float64
	defer func() {
		r.mu.Lock()
		r.rtts = append(r.rtts, rtts...)
		r.mu.Unlock()
	}()
	for seq := int64(0); next.Before(end); seq++ {
		if !sleepCtx(r.ctx, time.Until(next)) {
			r.errs.note("timeout", errors.New("the run ended during the ping workload"))
			return false
		}
		// A sequence number first, so that an echo of an earlier message cannot pass.
		r.data.fill(msg, seed, seq*int64(size))
		if size >= 8 {
			binary.BigEndian.PutUint64(msg, uint64(seq))
		}
		sentAt := time.Now()
		if seq == 0 {
			r.sawFirstWrite(sentAt)
		}
		atomic.AddInt64(&r.pingsSent, 1)
		if _, err := st.Write(msg); err != nil {
			r.errs.note(errorKind("write", err), err)
			return false
		}
		if _, err := io.ReadFull(st, back); err != nil {
			r.errs.note(errorKind("read", err), err)
			return false
		}
		now := time.Now()
		echoed()
		if !bytes.Equal(msg, back) {
			r.errs.note("verify_mismatch", fmt.Errorf("the echo of ping %d differs", seq))
			r.verifyFailed()
			return false
		}
		rtts = append(rtts, msOf(now.Sub(sentAt)))
		atomic.AddInt64(&r.pingsOK, 1)
		atomic.AddInt64(&r.bytesSent, int64(size))
		atomic.AddInt64(&r.bytesVerified, int64(size))
		next = next.Add(every)
		if now.After(next) {
			missed := now.Sub(next)/every + 1
			atomic.AddInt64(&r.lateTick, int64(missed))
			next = next.Add(missed * every)
		}
	}
	r.sawStreamDone(time.Now())
	return true
}

// echoByte sends b and expects it back.
func (r *clientRun) echoByte(st *smux.Stream, b byte) error {
	if _, err := st.Write([]byte{b}); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	var back [1]byte
	if _, err := io.ReadFull(st, back[:]); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if back[0] != b {
		r.verifyFailed()
		return fmt.Errorf("sent byte %#02x, got %#02x back", b, back[0])
	}
	atomic.AddInt64(&r.bytesSent, 1)
	atomic.AddInt64(&r.bytesVerified, 1)
	return nil
}

// idleStream: one echoed byte establishes the stream end to end; it then stays idle until the
// hold is over and must still echo one more byte.
func (r *clientRun) idleStream(st *smux.Stream, echoed, settle func()) bool {
	if err := r.echoByte(st, 0x5a); err != nil {
		r.errs.note(errorKind("idle_open", errors.Unwrap(err)), err)
		return false
	}
	echoed()
	atomic.AddInt64(&r.idleUp, 1)
	settle()
	select {
	case <-r.idleGo:
	case <-r.ctx.Done():
		r.errs.note("timeout", errors.New("the run ended during the idle hold"))
		return false
	}
	if err := r.echoByte(st, 0xa5); err != nil {
		r.errs.note(errorKind("idle_check", errors.Unwrap(err)), err)
		return false
	}
	r.sawStreamDone(time.Now())
	return true
}
