package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/envoi/envoi/internal/apperr"
)

const userUsage = `usage: envoi user create --email E --role owner|editor|viewer [--if-not-exists]
       envoi user list
       envoi user set-password E
       envoi user remove E
The password is read from standard input (one line), or prompted for on a terminal.`

// userCmd: envoi user create|list|set-password|remove.
func userCmd(ctx context.Context, a *App, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, userUsage)
		return 2
	}
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("user create", flag.ContinueOnError)
		fs.SetOutput(stderr)
		email := fs.String("email", "", "the account's address, used to sign in (required)")
		role := fs.String("role", "", "owner, editor or viewer (required)")
		existOK := fs.Bool("if-not-exists", false, "succeed quietly when the account exists (its password is kept)")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if *email == "" || *role == "" {
			fmt.Fprintln(stderr, userUsage)
			return 2
		}
		return withApp(ctx, a, stderr, func(a *App) error {
			if *existOK {
				if _, err := a.Users.UserByEmail(ctx, *email); err == nil {
					fmt.Fprintf(stdout, "user %s already exists\n", *email)
					return nil
				}
			}
			pw, err := readPassword(stdin, stderr, "Password for "+*email+": ")
			if err != nil {
				return err
			}
			u, err := a.Users.CreateUser(ctx, *email, *role, pw)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "user %s created (%s); sign in at %s/admin/login\n", u.Email, u.Role, a.Config.BaseURL)
			return nil
		})
	case "list":
		return withApp(ctx, a, stderr, func(a *App) error {
			us, err := a.Users.Users(ctx)
			if err != nil {
				return err
			}
			for _, u := range us {
				tfa := "password only"
				if u.TOTP() {
					tfa = "password and TOTP"
				}
				fmt.Fprintf(stdout, "%d\t%s\t%s\t%s\tcreated %s\n", u.ID, u.Email, u.Role, tfa, u.CreatedAt.Format(time.RFC3339))
			}
			if len(us) == 0 {
				fmt.Fprintln(stdout, "no accounts; create one with: envoi user create --email E --role owner")
			}
			return nil
		})
	case "set-password", "remove":
		if len(args) != 2 {
			fmt.Fprintln(stderr, userUsage)
			return 2
		}
		return withApp(ctx, a, stderr, func(a *App) error {
			u, err := a.Users.UserByEmail(ctx, args[1])
			if err != nil {
				return err
			}
			if args[0] == "remove" {
				if err := a.Users.RemoveUser(ctx, u.ID); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "user %s removed; their sessions have ended\n", u.Email)
				return nil
			}
			pw, err := readPassword(stdin, stderr, "New password for "+u.Email+": ")
			if err != nil {
				return err
			}
			if _, err := a.Users.SetPassword(ctx, u.ID, pw); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "password of %s changed; their sessions have ended\n", u.Email)
			return nil
		})
	}
	fmt.Fprintln(stderr, userUsage)
	return 2
}

// readPassword reads one line from stdin, or prompts without echo when stdin
// is a terminal.
func readPassword(stdin io.Reader, stderr io.Writer, prompt string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", apperr.FieldError("password", "Give the password on standard input (one line), e.g. from a file: envoi user create … < password.txt")
	}
	return line, nil
}
