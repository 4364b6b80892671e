package send

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/envoi/envoi/internal/config"
)

// FuzzDialogue plays any bytes as a relay's side of the conversation (greeting,
// EHLO reply with its extensions, AUTH, transaction replies): the client must
// end with success or an error, never panic or hang, and success means the
// whole message was handed over.
func FuzzDialogue(f *testing.F) {
	f.Add([]byte("220 hi\r\n250-hi\r\n250-PIPELINING\r\n250 CHUNKING\r\n250 ok\r\n250 ok\r\n250 ok\r\n"), false)
	f.Add([]byte("220 hi\r\n250-hi\r\n250 PIPELINING\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n"), false)
	f.Add([]byte("220 hi\r\n250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n"), false)
	f.Add([]byte("220 hi\r\n250-hi\r\n250 AUTH PLAIN\r\n334 \r\n235 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n"), true)
	f.Add([]byte("220 hi\r\n250-hi\r\n250-PIPELINING\r\n250 CHUNKING\r\n451 no\r\n503 no\r\n502 no\r\n250 reset\r\n"), false)
	f.Add([]byte("220 hi\r\n250-hi\r\n250-PIPELINING\r\n250 CHUNKING\r\n421 bye\r\n"), false)
	f.Add([]byte("554 go away\r\n"), false)
	f.Add([]byte("220-multi\r\n220 line\r\n500 what\r\n250 helo\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n"), false)
	f.Fuzz(func(t *testing.T, script []byte, auth bool) {
		client, relay := net.Pipe()
		defer client.Close()
		go func() { io.Copy(io.Discard, relay) }()
		go func() {
			relay.SetWriteDeadline(time.Now().Add(time.Second))
			relay.Write(script)
			relay.Close()
		}()
		cfg := config.SMTP{Host: "relay.example", Port: 25, TLS: "none"}
		if auth {
			cfg.Username, cfg.Password = "u", "p"
		}
		p := NewPool(cfg, 1)
		c := newConn(client, 500*time.Millisecond)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := p.setUp(c, nil); err != nil {
				return
			}
			handedOver, err := c.send(time.Time{}, "news@example.com", []string{"ann@example.com"}, []byte("Subject: x\r\n\r\n.\r\nbody\r\n"))
			if err == nil && !handedOver {
				t.Error("success without the message handed over")
			}
			var re *ReplyError
			if errors.As(err, &re) && (re.Code < 200 || re.Code > 599) {
				t.Errorf("reply code out of range: %v", err)
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the client hung")
		}
	})
}
