package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

const (
	secretEnvPrefix  = "env:"
	secretFilePrefix = "file:"
	// redactedSecret is what String shows for a value that is not a
	// reference and so may be a secret itself.
	redactedSecret = "[REDACTED]"
	secretRefHint  = "write env:VARIABLE or file:/path/to/secret"
)

// SecretRef names where a secret lives, never the secret itself:
//
//   - "env:NAME" is the value of environment variable NAME;
//   - "file:PATH" is the content of file PATH. Parse resolves a relative
//     PATH against the config file's directory; a SecretRef built in code
//     with a relative PATH is read relative to the working directory.
//
// Parse rejects any other value as an inline secret, an empty NAME or PATH,
// and a PATH that does not exist. It does not read the secret: call Resolve
// when it is needed.
type SecretRef string

// String returns the reference ("env:NAME" or "file:PATH"), never the
// secret. A value that is not a reference may itself be a secret, so it is
// shown as "[REDACTED]".
func (r SecretRef) String() string {
	if _, _, ok := r.split(); ok || r == "" {
		return string(r)
	}
	return redactedSecret
}

// Resolve reads the secret. For env:NAME the variable must be set and not
// empty. For file:PATH the file is read and one trailing "\n" or "\r\n" is
// removed; the result must not be empty. Errors are prefixed
// "config.SecretRef.Resolve: " and name the variable or file, never the
// secret or a value that is not a reference.
func (r SecretRef) Resolve() (string, error) {
	const op = "config.SecretRef.Resolve"
	scheme, target, ok := r.split()
	if !ok {
		return "", fmt.Errorf("%s: not a secret reference; want env:VARIABLE or file:PATH", op)
	}
	switch scheme {
	case secretEnvPrefix:
		if target == "" {
			return "", fmt.Errorf("%s: env: reference has no variable name", op)
		}
		v, set := os.LookupEnv(target)
		if !set {
			return "", fmt.Errorf("%s: environment variable %s is not set", op, target)
		}
		if v == "" {
			return "", fmt.Errorf("%s: environment variable %s is empty", op, target)
		}
		return v, nil
	default: // secretFilePrefix
		if target == "" {
			return "", fmt.Errorf("%s: file: reference has no path", op)
		}
		data, err := os.ReadFile(target)
		if err != nil {
			return "", fmt.Errorf("%s: read secret file %s: %w", op, target, pathErrCause(err))
		}
		v := string(data)
		if s, ok := strings.CutSuffix(v, "\r\n"); ok {
			v = s
		} else {
			v = strings.TrimSuffix(v, "\n")
		}
		if v == "" {
			return "", fmt.Errorf("%s: secret file %s is empty", op, target)
		}
		return v, nil
	}
}

// split returns the scheme prefix ("env:" or "file:") and what follows it.
// ok is false when r is not a reference.
func (r SecretRef) split() (scheme, target string, ok bool) {
	s := string(r)
	for _, p := range []string{secretEnvPrefix, secretFilePrefix} {
		if t, found := strings.CutPrefix(s, p); found {
			return p, t, true
		}
	}
	return "", "", false
}

// problem reports what makes a non-empty r unusable as a config value, or
// "" if nothing does. It checks that a file: reference's file exists but
// never reads the secret.
func (r SecretRef) problem() (message, hint string) {
	scheme, target, ok := r.split()
	switch {
	case !ok:
		return "inline secrets are not allowed", secretRefHint
	case scheme == secretEnvPrefix && target == "":
		return "env: reference has no variable name", "write env:VARIABLE"
	case scheme == secretEnvPrefix && strings.ContainsAny(target, "= \t\r\n\x00"):
		return fmt.Sprintf("env: variable name %q is not valid", target), "write env:VARIABLE"
	case scheme == secretFilePrefix && target == "":
		return "file: reference has no path", "write file:/path/to/secret"
	case scheme == secretFilePrefix:
		if msg := fileProblem("secret file", target); msg != "" {
			return msg, ""
		}
	}
	return "", ""
}

// fileProblem says why path cannot be opened as an input file, or returns
// "" if it can be stat'ed and is not a directory. what names the file in
// the message.
func fileProblem(what, path string) string {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%s %q does not exist", what, path)
	case err != nil:
		return fmt.Sprintf("cannot access %s %q: %v", what, path, pathErrCause(err))
	case fi.IsDir():
		return fmt.Sprintf("%s %q is a directory", what, path)
	}
	return ""
}

// pathErrCause strips the *fs.PathError wrapper, whose text repeats the
// path the caller already names. errors.Is still sees the cause.
func pathErrCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
