// Package tlstest gives tests a private PKI and a TLS-terminating TCP proxy, so that a
// plaintext Temporal dev server can be reached over TLS or mTLS as in production.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// PKI is a CA, a server certificate for 127.0.0.1 and a client certificate it signed, and an
// unrelated CA, all as PEM files in a temporary folder.
type PKI struct {
	CAFile, OtherCAFile       string
	ServerCertFile, ServerKey string
	ClientCertFile, ClientKey string // ClientKey is the key file's path
	ClientKeyPEM              []byte // its contents, for tests that look for leaks
	ca                        *x509.Certificate
	serverCert                tls.Certificate
	caPool                    *x509.CertPool
}

// NewPKI writes a fresh PKI under t.TempDir().
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	p := &PKI{}
	write := func(name, typ string, der []byte) (string, []byte) {
		b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path, b
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	serial := int64(0)
	sign := func(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) ([]byte, *x509.Certificate) {
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return der, c
	}
	caTmpl := func(name string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	}
	keyPEM := func(name string, k *ecdsa.PrivateKey) (string, []byte) {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, "PRIVATE KEY", der)
	}

	caKey := newKey()
	caDER, ca := sign(caTmpl("space test CA"), nil, &caKey.PublicKey, caKey)
	p.CAFile, _ = write("ca.pem", "CERTIFICATE", caDER)
	p.ca = ca
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(ca)

	otherKey := newKey()
	otherDER, _ := sign(caTmpl("some other CA"), nil, &otherKey.PublicKey, otherKey)
	p.OtherCAFile, _ = write("other-ca.pem", "CERTIFICATE", otherDER)

	srvKey := newKey()
	srvDER, _ := sign(&x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		ca, &srvKey.PublicKey, caKey)
	var srvCertPEM, srvKeyPEM []byte
	p.ServerCertFile, srvCertPEM = write("server.pem", "CERTIFICATE", srvDER)
	p.ServerKey, srvKeyPEM = keyPEM("server-key.pem", srvKey)
	var err error
	if p.serverCert, err = tls.X509KeyPair(srvCertPEM, srvKeyPEM); err != nil {
		t.Fatal(err)
	}

	cliKey := newKey()
	cliDER, _ := sign(&x509.Certificate{Subject: pkix.Name{CommonName: "space worker"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		ca, &cliKey.PublicKey, caKey)
	p.ClientCertFile, _ = write("client.pem", "CERTIFICATE", cliDER)
	p.ClientKey, p.ClientKeyPEM = keyPEM("client-key.pem", cliKey)
	return p
}

// Proxy listens on 127.0.0.1 with TLS (the PKI's server certificate, HTTP/2 ALPN as gRPC
// wants) and forwards each connection in plaintext to target. With mTLS it requires a client
// certificate that the PKI's CA signed. It stops when the test ends.
func (p *PKI) Proxy(t testing.TB, target string, mTLS bool) (addr string) {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{p.serverCert}, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12}
	if mTLS {
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, p.caPool
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	closed := false
	track := func(c net.Conn, add bool) {
		mu.Lock()
		defer mu.Unlock()
		if add && closed {
			c.Close()
		} else if add {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer in.Close()
				// The handshake happens here, so that a refused client fails on its side.
				if err := in.(*tls.Conn).Handshake(); err != nil {
					return
				}
				out, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer out.Close()
				track(in, true)
				track(out, true)
				defer track(in, false)
				defer track(out, false)
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
				go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
