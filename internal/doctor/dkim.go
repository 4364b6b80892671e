package doctor

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// PublicKeyFromFile reads a DKIM private key the way internal/send does (PEM,
// RSA in PKCS#1 or PKCS#8, or Ed25519 in PKCS#8) and returns its public key.
func PublicKeyFromFile(path string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block in the key file")
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return &k.PublicKey, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, errors.New("the key is neither PKCS#1 nor PKCS#8")
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return &k.PublicKey, nil
	case ed25519.PrivateKey:
		return k.Public(), nil
	}
	return nil, fmt.Errorf("unsupported key type %T", k)
}

// DKIMRecord is the TXT record that publishes pub (v=DKIM1; k=…; p=…).
func DKIMRecord(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), nil
	}
	return "", fmt.Errorf("unsupported key type %T", pub)
}

// parseTags parses a tag=value; list (RFC 6376 3.2); values keep no spaces.
func parseTags(s string) map[string]string {
	tags := map[string]string{}
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if _, dup := tags[k]; !dup {
			tags[k] = strings.Join(strings.Fields(v), "")
		}
	}
	return tags
}

// firstTag is the name of the record's first tag.
func firstTag(s string) string {
	k, _, _ := strings.Cut(s, "=")
	return strings.ToLower(strings.TrimSpace(k))
}

func checkDKIM(ctx context.Context, r *resolver, in Input) Result {
	var f finding
	if in.DKIMDomain == "" || in.DKIMSelector == "" {
		f.add(Warn, "mail is not DKIM-signed; Gmail and Yahoo require it for bulk senders",
			"Generate a key (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out dkim.pem), set ENVOI_DKIM_DOMAIN, ENVOI_DKIM_SELECTOR and ENVOI_DKIM_KEY_FILE, and run envoi doctor again: it prints the record to publish.")
		return f.result(CheckDKIM)
	}
	name := in.DKIMSelector + "._domainkey." + in.DKIMDomain
	want := ""
	if in.DKIMPublicKey != nil {
		want, _ = DKIMRecord(in.DKIMPublicKey)
	}
	publish := func() string {
		if want == "" {
			return fmt.Sprintf("Publish TXT %s \"v=DKIM1; k=rsa; p=<the base64 public key of ENVOI_DKIM_KEY_FILE>\" (k=ed25519 for an Ed25519 key).", name)
		}
		return fmt.Sprintf("Publish TXT %s \"%s\" (split it into strings of at most 255 characters if your DNS host asks).", name, want)
	}
	txts, err := r.TXT(ctx, name)
	if err != nil {
		if isTemp(err) {
			f.add(Warn, tempFound(err), tempFix)
		} else {
			f.add(Fail, err.Error(), "Check ENVOI_DKIM_DOMAIN and ENVOI_DKIM_SELECTOR.")
		}
		return f.result(CheckDKIM)
	}
	var recs []string
	for _, t := range txts {
		tags := parseTags(t)
		if _, hasP := tags["p"]; hasP || strings.HasPrefix(strings.ToLower(strings.TrimSpace(t)), "v=dkim1") {
			recs = append(recs, t)
		}
	}
	switch len(recs) {
	case 0:
		f.add(Fail, "no DKIM key at "+name+": receivers cannot verify Envoi's signatures", publish())
		return f.result(CheckDKIM)
	case 1:
	default:
		f.add(Fail, fmt.Sprintf("%d DKIM records at %s (verification picks one at random)", len(recs), name), "Keep a single record at "+name+". "+publish())
		return f.result(CheckDKIM)
	}
	rec := recs[0]
	tags := parseTags(rec)
	if v, ok := tags["v"]; ok && (!strings.EqualFold(v, "DKIM1") || firstTag(rec) != "v") {
		f.add(Fail, fmt.Sprintf("%s: v=%s is not v=DKIM1 as the first tag", name, v), publish())
		return f.result(CheckDKIM)
	}
	k := strings.ToLower(tags["k"])
	if k == "" {
		k = "rsa"
	}
	p := tags["p"]
	if p == "" {
		f.add(Fail, name+" has an empty p=: the key is revoked", publish())
		return f.result(CheckDKIM)
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		f.add(Fail, name+": p= is not valid base64", publish())
		return f.result(CheckDKIM)
	}
	var pub crypto.PublicKey
	switch k {
	case "rsa":
		if pk, err := x509.ParsePKIXPublicKey(der); err == nil {
			pub = pk
		} else if pk, err := x509.ParsePKCS1PublicKey(der); err == nil {
			pub = pk
		}
		if _, ok := pub.(*rsa.PublicKey); !ok {
			f.add(Fail, name+": p= is not an RSA public key", publish())
			return f.result(CheckDKIM)
		}
	case "ed25519":
		if len(der) != ed25519.PublicKeySize {
			f.add(Fail, fmt.Sprintf("%s: p= is %d bytes, an Ed25519 key is 32", name, len(der)), publish())
			return f.result(CheckDKIM)
		}
		pub = ed25519.PublicKey(der)
	default:
		f.add(Fail, fmt.Sprintf("%s: unknown key type k=%s", name, k), publish())
		return f.result(CheckDKIM)
	}
	desc := "k=" + k
	if rk, ok := pub.(*rsa.PublicKey); ok {
		desc = fmt.Sprintf("k=rsa, %d bits", rk.N.BitLen())
	}
	f.add(OK, fmt.Sprintf("%s: %s", name, desc), "")
	if in.DKIMPublicKey == nil {
		f.add(Warn, "the private key was not given, so whether it matches is not checked", "Set ENVOI_DKIM_KEY_FILE.")
	} else if !sameKey(pub, in.DKIMPublicKey) {
		f.add(Fail, "the published key does not match ENVOI_DKIM_KEY_FILE: every signature fails",
			fmt.Sprintf("Replace the TXT record at %s with \"%s\" (or point ENVOI_DKIM_KEY_FILE at the key that was published).", name, want))
		return f.result(CheckDKIM)
	} else {
		f.add(OK, "matches ENVOI_DKIM_KEY_FILE", "")
	}
	if strings.Contains(strings.ToLower(tags["t"]), "y") {
		f.add(Warn, "t=y: the domain is testing DKIM, so receivers may treat signed mail as unsigned", "Remove t=y from the record at "+name+" once signatures verify.")
	}
	if rk, ok := pub.(*rsa.PublicKey); ok && rk.N.BitLen() < 2048 {
		f.add(Warn, "RSA keys under 2048 bits are weak and some receivers ignore them",
			"Generate a 2048-bit key, publish it under a new selector and switch ENVOI_DKIM_SELECTOR and ENVOI_DKIM_KEY_FILE to it.")
	}
	return f.result(CheckDKIM)
}

// sameKey compares the DER SubjectPublicKeyInfo of RSA keys and the raw 32
// bytes of Ed25519 ones.
func sameKey(a, b crypto.PublicKey) bool {
	switch a := a.(type) {
	case *rsa.PublicKey:
		b, ok := b.(*rsa.PublicKey)
		if !ok {
			return false
		}
		da, err1 := x509.MarshalPKIXPublicKey(a)
		db, err2 := x509.MarshalPKIXPublicKey(b)
		return err1 == nil && err2 == nil && string(da) == string(db)
	case ed25519.PublicKey:
		b, ok := b.(ed25519.PublicKey)
		return ok && string(a) == string(b)
	}
	return false
}
