package adldap

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/hybridsync/hybridsync/internal/retry"
)

func TestClassOf(t *testing.T) {
	plain := errors.New("boom")
	opErr := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	verifyErr := &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}
	cases := []struct {
		name string
		err  error
		want retry.Class
	}{
		{"busy 51", ldap.NewError(ldap.LDAPResultBusy, plain), retry.Retryable},
		{"unavailable 52", ldap.NewError(ldap.LDAPResultUnavailable, plain), retry.Retryable},
		{"time limit 3", ldap.NewError(ldap.LDAPResultTimeLimitExceeded, plain), retry.Retryable},
		{"admin limit 11", ldap.NewError(ldap.LDAPResultAdminLimitExceeded, plain), retry.Terminal},
		{"entry exists 68", ldap.NewError(ldap.LDAPResultEntryAlreadyExists, plain), retry.Conflict},
		{"value exists 20", ldap.NewError(ldap.LDAPResultAttributeOrValueExists, plain), retry.Conflict},
		{"no such attribute 16", ldap.NewError(ldap.LDAPResultNoSuchAttribute, plain), retry.Conflict},
		{"no such attribute 16, unknown to the schema (Samba)", ldap.NewError(ldap.LDAPResultNoSuchAttribute,
			errors.New("Attribute 'msExchFoo' not on entry: no such attribute in the schema")), retry.Terminal},
		{"constraint violation 19", ldap.NewError(ldap.LDAPResultConstraintViolation, plain), retry.Terminal},
		{"no such object 32", ldap.NewError(ldap.LDAPResultNoSuchObject, plain), retry.NotFound},
		{"invalid credentials 49", ldap.NewError(ldap.LDAPResultInvalidCredentials, plain), retry.Terminal},
		{"insufficient rights 50", ldap.NewError(ldap.LDAPResultInsufficientAccessRights, plain), retry.Terminal},
		{"unwilling 53", ldap.NewError(ldap.LDAPResultUnwillingToPerform, plain), retry.Terminal},
		{"object class violation 65", ldap.NewError(ldap.LDAPResultObjectClassViolation, plain), retry.Terminal},
		{"network 200 plain", ldap.NewError(ldap.ErrorNetwork, plain), retry.Retryable},
		{"network 200 op error", ldap.NewError(ldap.ErrorNetwork, opErr), retry.Retryable},
		{"network 200 unknown authority", ldap.NewError(ldap.ErrorNetwork, x509.UnknownAuthorityError{}), retry.Terminal},
		{"network 200 verification error", ldap.NewError(ldap.ErrorNetwork, verifyErr), retry.Terminal},
		{"network 200 hostname error", ldap.NewError(ldap.ErrorNetwork, x509.HostnameError{Host: "dc1"}), retry.Terminal},
		{"network 200 StartTLS message", ldap.NewError(ldap.ErrorNetwork, errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority")), retry.Terminal},
		{"wrapped ldap busy", fmt.Errorf("search: %w", ldap.NewError(ldap.LDAPResultBusy, plain)), retry.Retryable},
		{"wrapped no such object", fmt.Errorf("a: %w", fmt.Errorf("b: %w", ldap.NewError(ldap.LDAPResultNoSuchObject, plain))), retry.NotFound},
		{"bare verification error", verifyErr, retry.Terminal},
		{"bare unknown authority", x509.UnknownAuthorityError{}, retry.Terminal},
		{"net.OpError", opErr, retry.Retryable},
		{"wrapped net.OpError", fmt.Errorf("dial: %w", opErr), retry.Retryable},
		{"io.EOF", io.EOF, retry.Retryable},
		{"wrapped io.EOF", fmt.Errorf("read: %w", io.EOF), retry.Retryable},
		{"io.ErrUnexpectedEOF", io.ErrUnexpectedEOF, retry.Retryable},
		{"plain", plain, retry.Terminal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := classOf(tc.err); got != tc.want {
				t.Errorf("classOf(%v) = %v, want %v", tc.err, got, tc.want)
			}
			err := classify("ad.test", tc.err)
			if got := retry.ClassOf(err); got != tc.want {
				t.Errorf("ClassOf(classify(%v)) = %v, want %v", tc.err, got, tc.want)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("classify lost the cause: %v", err)
			}
			var re *retry.Error
			if !errors.As(err, &re) || re.Op != "ad.test" {
				t.Errorf("classify did not wrap with op test: %#v", err)
			}
		})
	}
}

func TestClassifyKeepsClassifiedError(t *testing.T) {
	if classify("op", nil) != nil {
		t.Error("classify(nil) != nil")
	}
	inner := retry.New("ad.inner", retry.Conflict, ldap.NewError(ldap.LDAPResultBusy, errors.New("busy")))
	for _, err := range []error{inner, fmt.Errorf("outer: %w", inner)} {
		got := classify("ad.outer", err)
		if got != err {
			t.Errorf("classify(%v) = %v, want it returned unchanged", err, got)
		}
		if retry.ClassOf(got) != retry.Conflict {
			t.Errorf("class changed to %v", retry.ClassOf(got))
		}
	}
	// classifyBind says "invalid credentials" in words.
	bind := classifyBind("ad.bind.simple", fmt.Errorf("bind as x: %w", ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("52e"))))
	if retry.ClassOf(bind) != retry.Terminal || !errors.Is(bind, retry.ErrTerminal) {
		t.Errorf("classifyBind class = %v", retry.ClassOf(bind))
	}
	if ResultCode(bind) != int(ldap.LDAPResultInvalidCredentials) {
		t.Errorf("ResultCode(classifyBind) = %d", ResultCode(bind))
	}
	if msg := bind.Error(); !strings.Contains(msg, "invalid credentials") {
		t.Errorf("classifyBind message %q does not say invalid credentials", msg)
	}
	if got := retry.ClassOf(classifyBind("op", ldap.NewError(ldap.LDAPResultBusy, errors.New("x")))); got != retry.Retryable {
		t.Errorf("classifyBind(busy) = %v, want retryable", got)
	}
}

func TestIsNetworkError(t *testing.T) {
	opErr := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"ldap network", ldap.NewError(ldap.ErrorNetwork, errors.New("conn closed")), true},
		{"wrapped ldap network", fmt.Errorf("search: %w", ldap.NewError(ldap.ErrorNetwork, errors.New("x"))), true},
		{"net.OpError", opErr, true},
		{"io.EOF", io.EOF, true},
		{"wrapped io.EOF", fmt.Errorf("x: %w", io.EOF), true},
		{"net.ErrClosed", net.ErrClosed, true},
		{"ldap busy", ldap.NewError(ldap.LDAPResultBusy, errors.New("x")), false},
		{"ldap no such object", ldap.NewError(ldap.LDAPResultNoSuchObject, errors.New("x")), false},
		{"plain", errors.New("x"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := isNetworkError(tc.err); got != tc.want {
				t.Errorf("isNetworkError(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestResultCode(t *testing.T) {
	if got := ResultCode(fmt.Errorf("x: %w", ldap.NewError(ldap.LDAPResultNoSuchObject, errors.New("x")))); got != 32 {
		t.Errorf("ResultCode = %d, want 32", got)
	}
	if got := ResultCode(errors.New("x")); got != -1 {
		t.Errorf("ResultCode(plain) = %d, want -1", got)
	}
	if got := ResultCode(nil); got != -1 {
		t.Errorf("ResultCode(nil) = %d, want -1", got)
	}
}
