package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"strconv"
	"strings"
)

// Purposes of the tokens in campaign mail (SignCampaign). Values are part of the
// wire format: never renumber.
const (
	// Click: a link of a campaign (/r/{token}), bound to a campaign and a recipient.
	Click Purpose = 4
	// Open: the open pixel (/o/{token}), bound to a campaign and a recipient who
	// gave tracking consent, or to the campaign alone (subscriber 0: aggregate).
	Open Purpose = 5
)

// campaignVersion tells campaign tokens from subscription tokens (version 1):
// neither verifies as the other.
const campaignVersion = 2

// maxLinks bounds a link index in a click token.
const maxLinks = 1 << 20

// SignCampaign returns a token for a campaign and a subscriber (0: nobody). It
// carries no time and never expires: links in a mail keep working. One HMAC:
// a message's links share one token (ClickToken adds the link index outside it).
func (s *Signer) SignCampaign(p Purpose, campaignID, subscriberID int64) string {
	var buf [3 + 2*binary.MaxVarintLen64 + macLen]byte
	b := buf[:3]
	b[0], b[1], b[2] = campaignVersion, s.keys[0].id, byte(p)
	b = binary.AppendUvarint(b, uint64(campaignID))
	b = binary.AppendUvarint(b, uint64(subscriberID))
	h := s.keys[0].macs.Get().(hash.Hash)
	h.Reset()
	h.Write(b)
	var sum [sha256.Size]byte
	b = append(b, h.Sum(sum[:0])[:macLen]...)
	s.keys[0].macs.Put(h)
	return base64.RawURLEncoding.EncodeToString(b)
}

// VerifyCampaign checks a SignCampaign token for purpose p and returns its
// campaign and subscriber. Anything else is ErrInvalid.
func (s *Signer) VerifyCampaign(p Purpose, tok string) (campaignID, subscriberID int64, err error) {
	if len(tok) == 0 || len(tok) > maxLen {
		return 0, 0, ErrInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < 3+2+macLen || raw[0] != campaignVersion {
		return 0, 0, ErrInvalid
	}
	if base64.RawURLEncoding.EncodeToString(raw) != tok { // one spelling per token (see Verify)
		return 0, 0, ErrInvalid
	}
	body, sum := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	ok := false
	for _, k := range s.keys {
		if k.id == body[1] && hmac.Equal(sum, mac(k.mac, body)) {
			ok = true
			break
		}
	}
	if !ok || Purpose(body[2]) != p {
		return 0, 0, ErrInvalid
	}
	rest := body[3:]
	var vals [2]uint64
	for i := range vals {
		v, n := binary.Uvarint(rest)
		if n <= 0 || v > 1<<62 {
			return 0, 0, ErrInvalid
		}
		vals[i], rest = v, rest[n:]
	}
	if len(rest) != 0 || vals[0] == 0 {
		return 0, 0, ErrInvalid
	}
	return int64(vals[0]), int64(vals[1]), nil
}

// ClickToken is the path segment of a campaign link: the message's click token,
// a dot and the link's index in the campaign. The index is outside the
// signature (one signature per message, not per link): changing it can only
// name another link of the same campaign, and the redirect knows no others.
func ClickToken(messageToken string, idx int) string {
	return messageToken + "." + strconv.Itoa(idx)
}

// VerifyClick decodes a ClickToken: the campaign, the subscriber and the link index.
func (s *Signer) VerifyClick(tok string) (campaignID, subscriberID int64, idx int, err error) {
	i := strings.LastIndexByte(tok, '.')
	if i <= 0 || i == len(tok)-1 || len(tok)-i-1 > 7 {
		return 0, 0, 0, ErrInvalid
	}
	for _, c := range tok[i+1:] {
		if c < '0' || c > '9' {
			return 0, 0, 0, ErrInvalid
		}
	}
	n, err := strconv.Atoi(tok[i+1:])
	// One spelling per index: no leading zeros.
	if err != nil || n >= maxLinks || strconv.Itoa(n) != tok[i+1:] {
		return 0, 0, 0, ErrInvalid
	}
	cid, sid, err := s.VerifyCampaign(Click, tok[:i])
	if err != nil {
		return 0, 0, 0, err
	}
	return cid, sid, n, nil
}
