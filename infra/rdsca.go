package main

import _ "embed"

// rdsCABundle is AWS's global RDS CA bundle (global-bundle.pem, published by
// AWS for clients of RDS: the root CAs of every region and CA type, and the
// older intermediates), shipped to the migrate function as a layer at caPath.
// It connects to the instance directly, with sslmode=verify-full against it:
// the instance's certificate (CaCertificate RDS_CA_RSA2048_G1) chains to its
// region's root in the bundle. The fanout and the drain connect through RDS
// Proxy, whose certificate is from ACM, trusted by the system roots.
//
// AWS adds regions' roots to the bundle; the file is replaced from
// https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem when a
// new region is a home region (TestRDSCABundle checks it holds the home
// region's root).
//
//go:embed rds-global-bundle.pem
var rdsCABundle []byte
