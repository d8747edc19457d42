package adldap

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/hybridsync/hybridsync/internal/retry"
)

// classify maps an LDAP (or dial) error to a retry class and wraps it with
// the operation name. It returns nil for a nil error.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var already *retry.Error
	if errors.As(err, &already) {
		return err
	}
	return retry.New(op, classOf(err), err)
}

// classOf decides the class of one failure.
//
// Result codes follow RFC 4511 §A.2 and how AD uses them: busy, unavailable,
// time limit and the client-side network code are transient; entry or value
// already exists and value already gone mean the directory changed under us
// (conflict); noSuchObject is not-found; the rest (bad credentials, rights,
// schema, syntax and constraint violations such as rangeUpper, admin limits,
// unwilling to perform) will not heal by retrying.
func classOf(err error) retry.Class {
	var lerr *ldap.Error
	if errors.As(err, &lerr) {
		switch lerr.ResultCode {
		case ldap.ErrorNetwork:
			// A TLS handshake that failed verification is reported with
			// the network code; it will fail the same way next time.
			if isCertificateError(lerr.Err) {
				return retry.Terminal
			}
			return retry.Retryable
		case ldap.LDAPResultBusy, ldap.LDAPResultUnavailable,
			ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultLoopDetect, ldap.LDAPResultOther:
			return retry.Retryable
		case ldap.LDAPResultNoSuchAttribute:
			// A value already gone is a conflict; Samba also answers an
			// attribute unknown to the schema with this code (AD uses
			// undefinedAttributeType), and that will never heal.
			if lerr.Err != nil && strings.Contains(lerr.Err.Error(), "schema") {
				return retry.Terminal
			}
			return retry.Conflict
		case ldap.LDAPResultEntryAlreadyExists, ldap.LDAPResultAttributeOrValueExists:
			return retry.Conflict
		case ldap.LDAPResultNoSuchObject:
			return retry.NotFound
		default:
			return retry.Terminal
		}
	}
	if isCertificateError(err) {
		return retry.Terminal
	}
	var nerr net.Error
	if errors.As(err, &nerr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return retry.Retryable
	}
	var operr *net.OpError
	if errors.As(err, &operr) {
		return retry.Retryable
	}
	return retry.Terminal
}

func isCertificateError(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	if errors.As(err, &verify) || errors.As(err, &unknown) ||
		errors.As(err, &hostname) || errors.As(err, &invalid) {
		return true
	}
	// go-ldap's StartTLS formats the handshake error with %v, losing the
	// type; recognise Go's verification messages instead.
	msg := err.Error()
	return strings.Contains(msg, "x509: ") || strings.Contains(msg, "tls: failed to verify certificate")
}

// isNetworkError reports whether err means the connection is unusable and a
// new one must be dialled.
func isNetworkError(err error) bool {
	if err == nil {
		return false
	}
	if ldap.IsErrorWithCode(err, ldap.ErrorNetwork) {
		return true
	}
	var nerr net.Error
	return errors.As(err, &nerr) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}

// ResultCode returns the LDAP result code carried by err, or -1.
func ResultCode(err error) int {
	var lerr *ldap.Error
	if errors.As(err, &lerr) {
		return int(lerr.ResultCode)
	}
	return -1
}
