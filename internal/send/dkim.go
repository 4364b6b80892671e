package send

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/emersion/go-msgauth/dkim"
)

// SignedHeaders are the headers DKIM covers; Gmail requires List-Unsubscribe
// and List-Unsubscribe-Post among them for one-click unsubscribe.
var SignedHeaders = []string{"From", "To", "Subject", "Date", "Message-ID", "Reply-To",
	"List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "Feedback-ID", "CFBL-Address", "MIME-Version", "Content-Type"}

// Signer signs rendered messages with DKIM.
type Signer struct {
	Domain   string
	Selector string
	key      crypto.Signer
}

// NewSigner loads a PEM private key (RSA, PKCS#1 or PKCS#8, or Ed25519).
func NewSigner(domain, selector, keyFile string) (*Signer, error) {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block in the key file")
	}
	var key crypto.Signer
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		key = k
	} else if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		switch k := k.(type) {
		case *rsa.PrivateKey:
			key = k
		case ed25519.PrivateKey:
			key = k
		default:
			return nil, fmt.Errorf("unsupported key type %T", k)
		}
	} else {
		return nil, errors.New("the key is neither PKCS#1 nor PKCS#8")
	}
	return &Signer{Domain: domain, Selector: selector, key: key}, nil
}

// Sign returns the message with a DKIM-Signature header prepended.
func (s *Signer) Sign(raw []byte) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(raw) + 600)
	err := dkim.Sign(&out, bytes.NewReader(raw), &dkim.SignOptions{
		Domain: s.Domain, Selector: s.Selector, Signer: s.key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: SignedHeaders,
	})
	if err != nil {
		return nil, fmt.Errorf("DKIM sign: %w", err)
	}
	return out.Bytes(), nil
}
