package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/limits"
	"github.com/envoi/envoi/internal/model"
	"github.com/envoi/envoi/internal/store"
)

// Roles in order of power; RoleAtLeast compares them.
var roles = []string{model.RoleViewer, model.RoleEditor, model.RoleOwner}

// ValidRole reports whether r is a role name.
func ValidRole(r string) bool { return slices.Contains(roles, r) }

// RoleAtLeast reports whether role has at least the power of min.
func RoleAtLeast(role, min string) bool {
	return slices.Index(roles, role) >= slices.Index(roles, min) && slices.Contains(roles, role)
}

// Users manages admin accounts: passwords (argon2id), TOTP and recovery
// codes, sign-in with its failure limits, and the audit log. Build it once.
type Users struct {
	Store  *store.Store
	Limits *limits.Limiter // failed sign-ins; nil: none
	// Params are argon2id's; nil: argon2id.DefaultParams (64 MiB, 1 pass).
	Params *argon2id.Params
	Issuer string           // shown in authenticator apps (the organisation)
	Now    func() time.Time // TOTP clock; time.Now when nil

	dummyOnce sync.Once
	dummy     string // a hash to compare against when there is no account
}

func (s *Users) params() *argon2id.Params {
	if s.Params != nil {
		return s.Params
	}
	return argon2id.DefaultParams
}

func (s *Users) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Errors of sign-in, worded so that none tells whether an account exists.
var (
	ErrBadLogin = apperr.New(apperr.Unauthorized, "The address or the password is not right.")
	ErrBadCode  = &apperr.Error{Code: apperr.Unauthorized, Field: "code", Message: "The code is not right: enter the 6 digits your app shows now, or a recovery code."}
	// ErrCodeNeeded: the password was right and the account has TOTP on.
	ErrCodeNeeded = &apperr.Error{Code: apperr.Unauthorized, Field: "code", Message: "Enter the 6-digit code from your authenticator app (or a recovery code)."}
)

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 12

// CheckPassword applies the password rule (the CNIL's recommendation for a
// password alone: at least 12 characters mixing upper and lower case, digits
// and symbols, or a longer passphrase). Codes: invalid (Field password).
func CheckPassword(password, email string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n > 256:
		return apperr.FieldError("password", "Keep the password under 256 characters.")
	case n < MinPasswordLength:
		return apperr.FieldError("password", fmt.Sprintf("Use at least %d characters (a passphrase of several words is best).", MinPasswordLength))
	case strings.EqualFold(password, email) || (email != "" && strings.Contains(strings.ToLower(password), strings.ToLower(strings.Split(email, "@")[0])) && len(strings.Split(email, "@")[0]) >= 4):
		return apperr.FieldError("password", "The password must not contain the account's address.")
	}
	classes := 0
	for _, f := range []func(rune) bool{unicode.IsUpper, unicode.IsLower, unicode.IsDigit, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }} {
		if strings.IndexFunc(password, f) >= 0 {
			classes++
		}
	}
	if n < 16 && classes < 4 {
		return apperr.FieldError("password", "Mix upper and lower case, digits and symbols, or use 16 characters or more.")
	}
	return nil
}

// normalEmail checks an account address. Codes: invalid (Field email).
func normalEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || len(email) > 254 {
		return "", apperr.FieldError("email", "Enter an email address like ann@example.com.")
	}
	return email, nil
}

// CreateUser makes an account. Codes: invalid (Field email, role or
// password), conflict (Field email).
func (s *Users) CreateUser(ctx context.Context, email, role, password string) (model.User, error) {
	var errs apperr.FieldErrors
	email, err := normalEmail(email)
	if err != nil {
		errs = append(errs, err.(*apperr.Error))
	}
	if !ValidRole(role) {
		errs = append(errs, apperr.FieldError("role", "The role is owner, editor or viewer."))
	}
	if err := CheckPassword(password, email); err != nil {
		errs = append(errs, err.(*apperr.Error))
	}
	switch len(errs) {
	case 0:
	case 1:
		return model.User{}, errs[0]
	default:
		return model.User{}, errs
	}
	hash, err := argon2id.CreateHash(password, s.params())
	if err != nil {
		return model.User{}, err
	}
	return s.Store.CreateUser(ctx, email, role, hash)
}

// Users lists the accounts.
func (s *Users) Users(ctx context.Context) ([]model.User, error) { return s.Store.Users(ctx) }

// UserByID returns an account. Codes: not_found.
func (s *Users) UserByID(ctx context.Context, id int64) (model.User, error) {
	return s.Store.UserByID(ctx, id)
}

// UserByEmail returns an account. Codes: not_found.
func (s *Users) UserByEmail(ctx context.Context, email string) (model.User, error) {
	u, err := s.Store.UserByEmail(ctx, strings.TrimSpace(email))
	if apperr.ErrorCode(err) == apperr.NotFound {
		return u, apperr.New(apperr.NotFound, "There is no account with this address.")
	}
	return u, err
}

// Authenticate checks a sign-in: the address, the password and, when the
// account has TOTP on, the code (or a recovery code, which is then used up).
// Failures count against the account and the client's IP; over the limit
// every attempt is refused for a while, whether or not the account exists
// and whatever the password. An unknown address costs the same time as a
// wrong password. Codes: unauthorized (ErrBadLogin, ErrCodeNeeded,
// ErrBadCode), too_many.
func (s *Users) Authenticate(ctx context.Context, email, password, code, ip string) (model.User, error) {
	if err := s.Limits.Login(ctx, email, ip); err != nil {
		return model.User{}, err
	}
	fail := func(err error) (model.User, error) {
		s.Limits.LoginFailed(ctx, email, ip)
		return model.User{}, err
	}
	u, err := s.Store.UserByEmail(ctx, strings.TrimSpace(email))
	if apperr.ErrorCode(err) == apperr.NotFound {
		s.dummyOnce.Do(func() { s.dummy, _ = argon2id.CreateHash("no account has this password", s.params()) })
		argon2id.ComparePasswordAndHash(password, s.dummy)
		return fail(ErrBadLogin)
	}
	if err != nil {
		return model.User{}, err
	}
	ok, err := argon2id.ComparePasswordAndHash(password, u.PasswordHash)
	if err != nil {
		return model.User{}, fmt.Errorf("compare password of user %d: %w", u.ID, err)
	}
	if !ok {
		return fail(ErrBadLogin)
	}
	if !u.TOTP() {
		return u, nil
	}
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if code == "" {
		return model.User{}, ErrCodeNeeded
	}
	if len(code) == 6 {
		step, ok := totpStep(code, *u.TOTPSecret, s.now())
		if !ok {
			return fail(ErrBadCode)
		}
		// Each code once: a code seen (say, over a shoulder) cannot be used again.
		fresh, err := s.Store.UseTOTPStep(ctx, u.ID, step)
		if err != nil {
			return model.User{}, err
		}
		if !fresh {
			return fail(ErrBadCode)
		}
		return u, nil
	}
	used, err := s.Store.UseRecoveryCode(ctx, u.ID, hashCode(code))
	if err != nil {
		return model.User{}, err
	}
	if !used {
		return fail(ErrBadCode)
	}
	return u, nil
}

var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// totpStep is the time step (of 30 s) whose code code is, within one step of
// now either way.
func totpStep(code, secret string, now time.Time) (int64, bool) {
	for _, skew := range []int64{0, -1, 1} {
		at := now.Add(time.Duration(skew) * 30 * time.Second)
		want, err := totp.GenerateCodeCustom(secret, at, totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return at.Unix() / 30, true
		}
	}
	return 0, false
}

func hashCode(code string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.ReplaceAll(code, "-", ""))))
	return hex.EncodeToString(sum[:])
}

// SetPassword changes a password; every session of the account ends.
// Codes: invalid (Field password), not_found.
func (s *Users) SetPassword(ctx context.Context, id int64, password string) (model.User, error) {
	u, err := s.Store.UserByID(ctx, id)
	if err != nil {
		return u, err
	}
	if err := CheckPassword(password, u.Email); err != nil {
		return model.User{}, err
	}
	hash, err := argon2id.CreateHash(password, s.params())
	if err != nil {
		return model.User{}, err
	}
	return s.Store.UpdateUser(ctx, id, store.UserChange{PasswordHash: &hash})
}

// ChangePassword is SetPassword for the signed-in user, who proves the
// current password first. Codes: invalid (Field current or password).
func (s *Users) ChangePassword(ctx context.Context, id int64, current, password string) (model.User, error) {
	u, err := s.Store.UserByID(ctx, id)
	if err != nil {
		return u, err
	}
	if ok, _ := argon2id.ComparePasswordAndHash(current, u.PasswordHash); !ok {
		return model.User{}, apperr.FieldError("current", "This is not your current password.")
	}
	return s.SetPassword(ctx, id, password)
}

// errLastOwner keeps an install from locking itself out.
var errLastOwner = apperr.New(apperr.Conflict, "This is the only owner: make another account owner first.")

// SetRole changes an account's role; its sessions end. Codes: invalid,
// not_found, conflict (the last owner).
func (s *Users) SetRole(ctx context.Context, id int64, role string) (model.User, error) {
	if !ValidRole(role) {
		return model.User{}, apperr.FieldError("role", "The role is owner, editor or viewer.")
	}
	u, err := s.Store.UserByID(ctx, id)
	if err != nil {
		return u, err
	}
	if u.Role == model.RoleOwner && role != model.RoleOwner {
		if n, err := s.Store.CountOwners(ctx); err != nil {
			return u, err
		} else if n <= 1 {
			return u, errLastOwner
		}
	}
	return s.Store.UpdateUser(ctx, id, store.UserChange{Role: &role})
}

// RemoveUser deletes an account; its sessions end. Codes: not_found,
// conflict (the last owner).
func (s *Users) RemoveUser(ctx context.Context, id int64) error {
	u, err := s.Store.UserByID(ctx, id)
	if err != nil {
		return err
	}
	if u.Role == model.RoleOwner {
		if n, err := s.Store.CountOwners(ctx); err != nil {
			return err
		} else if n <= 1 {
			return errLastOwner
		}
	}
	return s.Store.DeleteUser(ctx, id)
}

// NewTOTP makes a TOTP secret for an account to confirm with EnableTOTP; it
// is not stored until then. It returns the secret and the otpauth:// URL.
func (s *Users) NewTOTP(u model.User) (secret, url string, err error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: s.Issuer, AccountName: u.Email, Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", err
	}
	return k.Secret(), k.URL(), nil
}

// RecoveryCodes is how many one-time recovery codes TOTP comes with.
const RecoveryCodes = 10

// EnableTOTP turns two-factor sign-in on once the user typed a valid code for
// secret, and returns the recovery codes (shown once; only hashes are kept).
// Every session of the account ends. Codes: invalid (Field code).
func (s *Users) EnableTOTP(ctx context.Context, id int64, secret, code string) ([]string, error) {
	step, valid := totpStep(strings.TrimSpace(code), secret, s.now())
	if !valid {
		return nil, apperr.FieldError("code", "The code is not right: enter the 6 digits your app shows now.")
	}
	codes, hashes := make([]string, RecoveryCodes), make([]string, RecoveryCodes)
	for i := range codes {
		var b [10]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		c := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
		codes[i] = c[:8] + "-" + c[8:]
		hashes[i] = hashCode(codes[i])
	}
	sec := &secret
	if _, err := s.Store.UpdateUser(ctx, id, store.UserChange{TOTPSecret: &sec, RecoveryCodes: &hashes}); err != nil {
		return nil, err
	}
	// The code that turned it on is used.
	if _, err := s.Store.UseTOTPStep(ctx, id, step); err != nil {
		return nil, err
	}
	return codes, nil
}

// DisableTOTP turns two-factor sign-in off after the password is proved.
// Codes: invalid (Field current).
func (s *Users) DisableTOTP(ctx context.Context, id int64, current string) error {
	u, err := s.Store.UserByID(ctx, id)
	if err != nil {
		return err
	}
	if ok, _ := argon2id.ComparePasswordAndHash(current, u.PasswordHash); !ok {
		return apperr.FieldError("current", "This is not your current password.")
	}
	var none *string
	empty := []string{}
	_, err = s.Store.UpdateUser(ctx, id, store.UserChange{TOTPSecret: &none, RecoveryCodes: &empty})
	return err
}

// Record adds an admin action to the audit log.
func (s *Users) Record(ctx context.Context, e model.AuditEntry) error {
	if e.UserEmail == "" {
		return errors.New("audit entry without a user")
	}
	return s.Store.RecordAudit(ctx, e)
}

// AuditFilter selects audit entries (by user and action substrings, before an id).
type AuditFilter = store.AuditFilter

// Audit returns a page of the audit log, newest first.
func (s *Users) Audit(ctx context.Context, f AuditFilter) ([]model.AuditEntry, error) {
	return s.Store.AuditEntries(ctx, f)
}
