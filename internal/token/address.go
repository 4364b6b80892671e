package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"hash"
	"strconv"
	"strings"
)

// Kinds of signed addresses (SignAddress): what the part after the "+" of an
// address on the inbound domain names. Values are part of the wire format.
const (
	// AddrCampaign: the return path of a campaign message (campaign, subscriber).
	AddrCampaign byte = 'c'
	// AddrTransactional: the return path of a transactional message (its id, 0).
	AddrTransactional byte = 't'
)

// addrMacLen: 80 bits, 16 base32 characters, so that "bounces+" and two ids
// stay well within the 64 characters of a local part.
const addrMacLen = 10

// addrDomain separates address MACs from every other token's.
var addrDomain = []byte("envoi address\x00")

// addrEncoding is lower-case base32: relays may change the case of a local part.
var addrEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// SignAddress returns the signed part of an address for kind and two ids:
// "c12-34-" and 16 characters of HMAC. It uses only lower-case letters, digits
// and "-", so it survives relays that fold case. It is on the per-message hot
// path of a campaign (the return path): one HMAC with a pooled state.
func (s *Signer) SignAddress(kind byte, a, b int64) string {
	var buf [1 + 2*20 + 2 + 16]byte
	out := append(buf[:0], kind)
	out = strconv.AppendInt(out, a, 10)
	out = append(out, '-')
	if kind == AddrCampaign {
		out = strconv.AppendInt(out, b, 10)
		out = append(out, '-')
	}
	sum := s.addrMAC(s.keys[0], out)
	n := len(out)
	out = out[:n+addrEncoding.EncodedLen(addrMacLen)]
	addrEncoding.Encode(out[n:], sum[:addrMacLen])
	return string(out)
}

func (s *Signer) addrMAC(k key, body []byte) [sha256.Size]byte {
	h := k.macs.Get().(hash.Hash)
	h.Reset()
	h.Write(addrDomain)
	h.Write(body)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	k.macs.Put(h)
	return sum
}

// VerifyAddress checks a SignAddress string (case ignored) and returns its kind
// and ids; anything else, a forged or altered one included, is ErrInvalid.
func (s *Signer) VerifyAddress(signed string) (kind byte, a, b int64, err error) {
	if len(signed) < 4 || len(signed) > 60 {
		return 0, 0, 0, ErrInvalid
	}
	signed = strings.ToLower(signed)
	cut := strings.LastIndexByte(signed, '-')
	if cut < 0 || len(signed)-cut-1 != addrEncoding.EncodedLen(addrMacLen) {
		return 0, 0, 0, ErrInvalid
	}
	sum, derr := addrEncoding.DecodeString(signed[cut+1:])
	if derr != nil || len(sum) != addrMacLen || addrEncoding.EncodeToString(sum) != signed[cut+1:] {
		return 0, 0, 0, ErrInvalid
	}
	body := signed[:cut+1]
	if len(body) < 3 {
		return 0, 0, 0, ErrInvalid
	}
	kind = body[0]
	fields := strings.Split(body[1:len(body)-1], "-")
	want := 1
	if kind == AddrCampaign {
		want = 2
	} else if kind != AddrTransactional {
		return 0, 0, 0, ErrInvalid
	}
	if len(fields) != want {
		return 0, 0, 0, ErrInvalid
	}
	var ids [2]int64
	for i, f := range fields {
		v, perr := strconv.ParseInt(f, 10, 64)
		if perr != nil || v <= 0 || strconv.FormatInt(v, 10) != f { // one spelling per id
			return 0, 0, 0, ErrInvalid
		}
		ids[i] = v
	}
	for _, k := range s.keys {
		m := s.addrMAC(k, []byte(body))
		if hmac.Equal(m[:addrMacLen], sum) {
			return kind, ids[0], ids[1], nil
		}
	}
	return 0, 0, 0, ErrInvalid
}
