package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"

	"github.com/watcher-dev/watcher/migrations"
)

// caPath is where the database's CA certificate lies in the functions that
// use the database: a layer's files appear under /opt. A file, because
// libpq's sslrootcert names one, and a layer, because a PEM chain would
// crowd Lambda's 4 KB of environment.
const caPath = "/opt/watcher/database-ca.pem"

// externalDB is a database of your own (Config.Database in mode external):
// no RDS, no proxy, no IAM authentication. The application roles log in with
// passwords the stack generates, one secret each; the migrate function sets
// them on the roles, and each function reads its own at cold start.
type externalDB struct {
	owner   awssecretsmanager.ISecret           // the operator's owner secret
	secrets map[string]awssecretsmanager.Secret // application role -> its password
	caLayer awslambda.LayerVersion              // caPath
	peer    awsec2.IPeer                        // where the database is
	routes  []awsec2.CfnRoute                   // to it through the peering connection
}

// url is the connection URL of role: directly to the server, its
// certificate and host name verified against the CA of the layer.
func (e *externalDB) url(cfg *Config, role string) string {
	d := cfg.Database
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(role),
		Host:     d.Host + ":" + strconv.Itoa(d.Port),
		Path:     "/" + d.Name,
		RawQuery: "sslmode=verify-full&sslrootcert=" + caPath,
	}
	return u.String()
}

// importNetwork uses your VPC instead of making one: the peering
// connection, PrivateLink endpoint or route to the database exists before
// the stack, whose first deploy runs the migrations, and it is yours to
// shape. Imported by id, not looked up, so synth needs no AWS account; the
// functions' security groups are still the stack's own.
func (h *homeStack) importNetwork(cfg *Config) {
	d := cfg.Database
	h.Vpc = awsec2.Vpc_FromVpcAttributes(h.Stack, jsii.String("Vpc"), &awsec2.VpcAttributes{
		VpcId:             jsii.String(d.VpcID),
		AvailabilityZones: h.Stack.AvailabilityZones(),
	})
	var subnets []awsec2.ISubnet
	for i, id := range d.SubnetIDs {
		sn := awsec2.Subnet_FromSubnetId(h.Stack, jsii.String("Subnet"+strconv.Itoa(i)), jsii.String(id))
		// Routes, where the stack adds any, name their tables explicitly.
		awscdk.Annotations_Of(sn).AcknowledgeWarning(jsii.String("@aws-cdk/aws-ec2:noSubnetRouteTableId"),
			jsii.String("the functions only place network interfaces in the subnet"))
		subnets = append(subnets, sn)
	}
	h.functions = &awsec2.SubnetSelection{Subnets: &subnets}
}

// externalDatabase adds what a database of your own needs: the CA layer, a
// password secret per application role, and the routes to its network.
// dbRoleSecretName is the name of the secret the stack generates for an
// application role's password on an external database.
func (c *Config) dbRoleSecretName(role string) string { return c.Prefix + "/database/" + role }

func (h *homeStack) externalDatabase(cfg *Config) {
	stack, d := h.Stack, cfg.Database
	e := &externalDB{secrets: map[string]awssecretsmanager.Secret{}, peer: awsec2.Peer_AnyIpv4()}
	e.owner = awssecretsmanager.Secret_FromSecretCompleteArn(stack, jsii.String("OwnerSecret"), jsii.String(d.OwnerSecretArn))
	for _, role := range []string{migrations.RoleFanout, migrations.RoleProbe} {
		e.secrets[role] = awssecretsmanager.NewSecret(stack, jsii.String("Password-"+role), &awssecretsmanager.SecretProps{
			SecretName:  jsii.String(cfg.dbRoleSecretName(role)),
			Description: jsii.String("Watcher: password of the database role " + role),
			GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
				SecretStringTemplate: jsii.String(`{"username":"` + role + `"}`),
				GenerateStringKey:    jsii.String("password"),
				PasswordLength:       jsii.Number(40),
				// Printable ASCII without quotes or backslashes: the
				// migrate function computes the server's SCRAM verifier,
				// and PostgreSQL hashes such a password unchanged.
				ExcludePunctuation: jsii.Bool(true),
			},
		})
	}
	pemBytes, err := readCACertificate(d.CACertificate)
	if err != nil {
		// Config validation has read the file already: a race.
		panic(fmt.Sprintf("database.caCertificate: %v", err))
	}
	e.caLayer = caLayer(stack, pemBytes, "Watcher: CA certificate of the database server, at "+caPath)
	if d.PeerCidr != "" {
		e.peer = awsec2.Peer_Ipv4(jsii.String(d.PeerCidr))
	}
	for i, rtb := range d.RouteTableIDs {
		e.routes = append(e.routes, awsec2.NewCfnRoute(stack, jsii.String("PeerRoute"+strconv.Itoa(i)), &awsec2.CfnRouteProps{
			RouteTableId:           jsii.String(rtb),
			DestinationCidrBlock:   jsii.String(d.PeerCidr),
			VpcPeeringConnectionId: jsii.String(d.PeeringConnectionID),
		}))
	}
	h.ext = e
}

// caLayer is the Lambda layer that puts pemBytes, the CA certificates of
// the database server, at caPath.
func caLayer(stack awscdk.Stack, pemBytes []byte, description string) awslambda.LayerVersion {
	return awslambda.NewLayerVersion(stack, jsii.String("DatabaseCA"), &awslambda.LayerVersionProps{
		Code:                    awslambda.Code_FromAsset(jsii.String(caLayerDir(stack, pemBytes)), nil),
		CompatibleRuntimes:      &[]awslambda.Runtime{awslambda.Runtime_PROVIDED_AL2023()},
		CompatibleArchitectures: &[]awslambda.Architecture{awslambda.Architecture_ARM_64()},
		Description:             jsii.String(description),
	})
}

// caLayerDir writes the layer's content, the CA certificates at caPath,
// into the cloud assembly's directory, from which the asset is staged.
func caLayerDir(stack awscdk.Stack, pemBytes []byte) string {
	dir := filepath.Join(*awscdk.Stage_Of(stack).Outdir(), ".watcher-database-ca")
	file := filepath.Join(dir, filepath.FromSlash(caPath[len("/opt/"):]))
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		panic(fmt.Sprintf("database CA layer: %v", err))
	}
	if err := os.WriteFile(file, pemBytes, 0o644); err != nil {
		panic(fmt.Sprintf("database CA layer: %v", err))
	}
	return dir
}
