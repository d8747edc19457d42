// Package lab brings up hybridsync's test and demo environment: a real
// Samba Active Directory domain controller bound to a loopback address,
// with the Exchange schema extension and a seeded organisation, and writes
// lab.env and hybridsync.yaml describing it.
//
// Everything lives under one directory. The DC is started in its own
// session and stopped by the pid recorded in that directory, never by name.
package lab

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hybridsync/hybridsync/ad"
	"github.com/hybridsync/hybridsync/ad/adldap"
	"github.com/hybridsync/hybridsync/internal/retry"
	"github.com/hybridsync/hybridsync/reconcile/plan"
)

// Options for Up.
type Options struct {
	Dir string
	// Size is the number of bulk users (minimum and default 5,000).
	Size int
	// Seed makes the organisation reproducible.
	Seed uint64
	// IP is the loopback address to bind; empty picks a free 127.11.0.N.
	IP string
	// SourceAnchor is the sourceAnchor the lab's simulated Entra Connect
	// is installed with (objectGUID or mS-DS-ConsistencyGuid); "" means
	// objectGUID for a new lab and the recorded one for an existing lab.
	// Like Entra Connect's, it is chosen once: an existing lab refuses
	// another.
	SourceAnchor string
	Logger       *slog.Logger
}

// State is the lab's description, saved as DIR/lab.json. Up saves it
// without a Manifest before it changes anything outside DIR, and with the
// Manifest once the lab is finished: a lab.json without a Manifest marks a
// `lab up` that failed or was interrupted.
type State struct {
	Dir        string    `json:"dir"`
	IP         string    `json:"ip"`
	Realm      string    `json:"realm"`
	NetBIOS    string    `json:"netbios"`
	HostName   string    `json:"hostName"`
	DCName     string    `json:"dcName"` // FQDN in the DC certificate and SPN
	BaseDN     string    `json:"baseDN"`
	MailDomain string    `json:"mailDomain"`
	Created    time.Time `json:"created"`
	// AddedIP is true while the lab owns its loopback address: this lab
	// put IP on lo and has not removed it yet. Down removes the address
	// only then, so it never takes away an address that was there before.
	AddedIP  bool      `json:"addedIP,omitempty"`
	Manifest *Manifest `json:"manifest,omitempty"`

	// The lab's tenant (served by the emulator on EmulatorPort).
	TenantID      string `json:"tenantId,omitempty"`
	ClientID      string `json:"clientId,omitempty"`
	InitialDomain string `json:"initialDomain,omitempty"`
	EmulatorPort  int    `json:"emulatorPort,omitempty"`
	// SourceAnchor is the simulated Entra Connect's sourceAnchor; ""
	// (labs made before it could be chosen) is objectGUID.
	SourceAnchor plan.SourceAnchor `json:"sourceAnchor,omitempty"`
}

const (
	realm      = "LAB.HYBRIDSYNC.TEST"
	netbios    = "HSLAB"
	hostName   = "dc1"
	mailDomain = "hybridsync.test"
	svcUser    = "svc-hybridsync"
)

func statePath(dir string) string { return filepath.Join(dir, "lab.json") }

// LoadState reads DIR/lab.json.
func LoadState(dir string) (*State, error) {
	data, err := os.ReadFile(statePath(dir))
	if err != nil {
		return nil, fmt.Errorf("lab: no lab in %s: %w", dir, err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("lab: %s: %w", statePath(dir), err)
	}
	return &s, nil
}

func (s *State) save() error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(statePath(s.Dir), append(data, '\n'), 0o644)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Up provisions (first time) or restarts (later) the lab in opts.Dir and
// returns its state once the DC answers authenticated LDAPS requests.
//
// If Up fails after it started samba or added the loopback address, it
// stops that samba (by its recorded pid) and removes the address it added
// before returning, so nothing is left running. A directory where a first
// `lab up` failed keeps its lab.json (without a Manifest): `lab down`
// works on it, and a later Up refuses it and asks for it to be removed.
//
// The administrator's password is never on a command line: samba-tool
// provisions with a throwaway password, which Up replaces over LDAPS with
// the password it keeps in DIR/admin.password.
func Up(ctx context.Context, opts Options) (_ *State, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	anchor, err := plan.ParseSourceAnchor(opts.SourceAnchor)
	if err != nil {
		return nil, fmt.Errorf("lab: --source-anchor: %w", err)
	}
	if err := requireTools(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	p := pathsFor(dir)
	if pid, ok := runningPid(p); ok {
		return nil, fmt.Errorf("lab: already running in %s (samba pid %d); run `hybridsync lab down --dir %s` first", dir, pid, dir)
	}
	if pid, ok := daemonPid(emulatorPidFile(dir), isHybridsyncExe); ok {
		return nil, fmt.Errorf("lab: the tenant emulator is still running in %s (pid %d); run `hybridsync lab down --dir %s` first", dir, pid, dir)
	}

	// Undo what this run started if it fails: samba, and the loopback
	// address if this run added it. ctx may be the reason for the failure,
	// so the clean-up does not use it.
	var (
		st         *State
		started    bool // this run started samba
		emuStarted bool // this run started the tenant emulator
		addingIP   bool // this run added (or tried to add) st.IP
	)
	defer func() {
		if err == nil {
			return
		}
		if emuStarted {
			if serr := stopEmulator(dir); serr != nil {
				log.Error("lab: clean-up after failed start", "error", serr)
			}
		}
		if started {
			if serr := stopSamba(p, 15*time.Second); serr != nil {
				log.Error("lab: clean-up after failed start", "error", serr)
			}
		}
		if addingIP {
			if rerr := removeLoopbackIP(context.WithoutCancel(ctx), st.IP); rerr != nil {
				log.Error("lab: clean-up after failed start", "error", rerr)
				return
			}
			st.AddedIP = false
			if serr := st.save(); serr != nil {
				log.Error("lab: clean-up after failed start", "error", serr)
			}
		}
	}()
	// claimIP adds st.IP to lo unless it is there already, recording in
	// lab.json first that the lab owns the address.
	claimIP := func() error {
		used, err := loopbackAddrs()
		if err != nil {
			return err
		}
		if used[st.IP] {
			return nil
		}
		st.AddedIP, addingIP = true, true
		if err := st.save(); err != nil {
			return err
		}
		return addLoopbackIP(ctx, st.IP)
	}

	if prev, lerr := LoadState(dir); lerr == nil {
		if prev.Manifest == nil {
			return nil, fmt.Errorf("lab: a previous `lab up` in %s failed before the lab was finished; run `hybridsync lab down --dir %s`, remove the directory, and run `lab up` again", dir, dir)
		}
		st = prev
		if have, _ := plan.ParseSourceAnchor(string(st.SourceAnchor)); opts.SourceAnchor != "" && have != anchor {
			return nil, fmt.Errorf("lab: the lab in %s syncs with source anchor %s, chosen when it was provisioned; Entra Connect's source anchor cannot be changed later: provision a new lab for %s", dir, have, anchor)
		}
		if ip := net.ParseIP(st.IP); ip == nil || !ip.IsLoopback() || ip.To4() == nil {
			return nil, fmt.Errorf("lab: %s records address %q, which is not an IPv4 loopback address; refusing to bind a lab to it", statePath(dir), st.IP)
		}
		log.Info("lab: restarting existing lab", "dir", dir, "ip", st.IP)
		if err := claimIP(); err != nil {
			return nil, err
		}
		if _, err := startSamba(p); err != nil {
			return nil, err
		}
		started = true
		if err := withDC(ctx, st, func(*adldap.Client) error { return nil }); err != nil {
			return nil, err
		}
		if err := ensureCloudIdentity(st); err != nil {
			return nil, err
		}
		emuStarted = true
		if err := startEmulator(ctx, st, log); err != nil {
			return nil, err
		}
		if err := writeEnv(st); err != nil {
			return nil, err
		}
		return st, seedCloud(ctx, st, log)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		return nil, fmt.Errorf("lab: %s is not empty and holds no lab; remove it or choose another --dir", dir)
	}
	if err := requireProvisionSchema(ctx); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	ip := opts.IP
	if ip == "" {
		if ip, err = pickIP(); err != nil {
			return nil, err
		}
	} else if parsed := net.ParseIP(ip); parsed == nil || !parsed.IsLoopback() || parsed.To4() == nil {
		return nil, fmt.Errorf("lab: --ip %q is not an IPv4 loopback address (127.0.0.0/8)", ip)
	}
	st = &State{
		Dir: dir, IP: ip, Realm: realm, NetBIOS: netbios, HostName: hostName,
		DCName: hostName + "." + strings.ToLower(realm), BaseDN: realmDN(realm),
		MailDomain: mailDomain, Created: time.Now().UTC(), SourceAnchor: anchor,
	}
	if err := st.save(); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	// Provision with a throwaway password (samba-tool takes it on its
	// command line, visible to every local user) and keep it in
	// admin.password until setAdminPassword replaces it.
	throwaway, err := genPassword()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(adminPasswordFile(dir), []byte(throwaway+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	caFile, certFile, keyFile, err := writeCA(dir, []string{st.DCName, "localhost"}, []net.IP{net.ParseIP(ip)}, time.Now())
	if err != nil {
		return nil, err
	}
	if err := claimIP(); err != nil {
		return nil, err
	}
	log.Info("lab: provisioning Samba AD DC", "dir", dir, "ip", ip, "realm", realm)
	if err := provision(ctx, p, st, throwaway, certFile, keyFile, caFile); err != nil {
		return nil, err
	}
	if _, err := startSamba(p); err != nil {
		return nil, err
	}
	started = true
	if err := withDC(ctx, st, func(c *adldap.Client) error { return setAdminPassword(ctx, c, st) }); err != nil {
		return nil, err
	}
	log.Info("lab: extending schema with Exchange attributes")
	if err := withDC(ctx, st, func(c *adldap.Client) error { return extendSchema(ctx, c, st.BaseDN) }); err != nil {
		return nil, err
	}
	seed := opts.Seed
	if seed == 0 {
		seed = 1
	}
	// The schema cache is per connection in Samba: a new connection sees
	// the Exchange attributes.
	err = withDC(ctx, st, func(c *adldap.Client) error {
		if err := createServiceAccount(ctx, c, st); err != nil {
			return err
		}
		if err := registerLDAPSPNs(ctx, c, st); err != nil {
			return err
		}
		if err := writeKerberos(ctx, st); err != nil {
			return err
		}
		log.Info("lab: seeding organisation", "seed", seed, "size", opts.Size)
		start := time.Now()
		m, err := Seed(ctx, c, st.BaseDN, st.MailDomain, strings.ToLower(realm), seed, opts.Size)
		if err != nil {
			return err
		}
		log.Info("lab: seeded", "objects", m.Objects, "recipients", m.Recipients, "duration_seconds", time.Since(start).Seconds())
		st.Manifest = m
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := st.save(); err != nil {
		return nil, err
	}
	if err := ensureCloudIdentity(st); err != nil {
		return nil, err
	}
	log.Info("lab: starting the tenant emulator")
	emuStarted = true
	if err := startEmulator(ctx, st, log); err != nil {
		return nil, err
	}
	if err := writeEnv(st); err != nil {
		return nil, err
	}
	return st, seedCloud(ctx, st, log)
}

// setAdminPassword replaces the administrator's provisioning password (the
// one c is bound with) by a new random one, over LDAPS, and then writes
// the new one to DIR/admin.password (mode 0600).
func setAdminPassword(ctx context.Context, c *adldap.Client, st *State) error {
	pw, err := genPassword()
	if err != nil {
		return err
	}
	if err := c.Modify(ctx, adminDN(st), ad.Change{Op: ad.ReplaceValues, Attr: "unicodePwd", Values: []string{unicodePwd(pw)}}); err != nil {
		return fmt.Errorf("lab: set administrator password: %w", err)
	}
	if err := writeFileAtomic(adminPasswordFile(st.Dir), []byte(pw+"\n"), 0o600); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// Down stops the lab's DC (by its recorded pid) and removes its loopback
// address if the lab added it (State.AddedIP). The directory is kept, so
// `lab up` can restart it. Down also works on a directory where `lab up`
// failed.
func Down(ctx context.Context, dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	st, err := LoadState(dir)
	if err != nil {
		return err
	}
	if err := stopEmulator(dir); err != nil {
		return err
	}
	if err := stopSamba(pathsFor(dir), 15*time.Second); err != nil {
		return err
	}
	if !st.AddedIP {
		return nil
	}
	if err := removeLoopbackIP(ctx, st.IP); err != nil {
		return err
	}
	st.AddedIP = false
	return st.save()
}

// Running reports whether the lab's DC process is alive, and its pid.
func Running(dir string) (int, bool) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return 0, false
	}
	return runningPid(pathsFor(dir))
}

// PidFile returns the path of the file holding the DC's pid.
func PidFile(dir string) string { return pathsFor(dir).pidFile }

func realmDN(realm string) string {
	parts := strings.Split(strings.ToLower(realm), ".")
	for i, p := range parts {
		parts[i] = "DC=" + p
	}
	return strings.Join(parts, ",")
}

func adminDN(s *State) string { return "CN=Administrator,CN=Users," + s.BaseDN }

func adminPasswordFile(dir string) string { return filepath.Join(dir, "admin.password") }

// ADConfig returns the adldap.Config for the lab's administrator over LDAPS. The
// password is read from DIR/admin.password at each bind.
func (s *State) ADConfig() adldap.Config {
	pwFile := adminPasswordFile(s.Dir)
	return adldap.Config{
		URLs:       []string{"ldaps://" + s.IP + ":636"},
		BaseDN:     s.BaseDN,
		CAFile:     filepath.Join(s.Dir, "tls", "ca.pem"),
		ServerName: s.DCName,
		Method:     adldap.BindSimple,
		BindDN:     adminDN(s),
		Password:   func() (string, error) { return readSecretFile(pwFile) },
		Timeout:    30 * time.Second,
	}
}

func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// waitReady dials the DC until an authenticated LDAPS bind works, for at
// most two minutes.
func waitReady(ctx context.Context, st *State) (*adldap.Client, error) {
	cfg := st.ADConfig()
	pol := retry.Policy{MaxAttempts: 1}
	cfg.Retry = &pol
	deadline := time.Now().Add(2 * time.Minute)
	var last error
	for time.Now().Before(deadline) {
		if _, ok := runningPid(pathsFor(st.Dir)); !ok {
			return nil, fmt.Errorf("lab: samba exited during start-up; see %s", pathsFor(st.Dir).log)
		}
		c, err := adldap.Dial(ctx, cfg)
		if err == nil {
			return c, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("lab: DC did not answer within 2 minutes: %w", last)
}

// withDC dials the DC as waitReady does, runs fn with the client and closes
// the client when fn returns.
func withDC(ctx context.Context, st *State, fn func(*adldap.Client) error) error {
	c, err := waitReady(ctx, st)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// genPassword returns a random password meeting AD's complexity rules.
func genPassword() (string, error) {
	const (
		lower = "abcdefghijkmnopqrstuvwxyz"
		upper = "ABCDEFGHJKLMNPQRSTUVWXYZ"
		digit = "23456789"
		sym   = "-_.!"
	)
	all := lower + upper + digit
	var b strings.Builder
	for _, set := range []string{upper, lower, digit, sym} {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return "", err
		}
		b.WriteByte(set[n.Int64()])
	}
	for i := 0; i < 20; i++ {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(all))))
		if err != nil {
			return "", err
		}
		b.WriteByte(all[n.Int64()])
	}
	return b.String(), nil
}
