using System.Net.Security;
using System.Security.Authentication;
using ItkPs.Core.Config;
using ItkPs.Core.Unix;
using Mono.Unix.Native;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>
/// mod_ssl's directives and Protocols as itkd reads them: which ports are TLS ports, SSLProtocol as
/// Apache parses it, SSLCipherSuite through this system's libssl, inheritance from the main server,
/// and the key checks with real files, owners and modes (these run as root, like the server:
/// they chown to the system accounts daemon and nobody).
/// </summary>
public class TlsConfigTests
{
    private static ServerConfig Read(TempDir dir, string text) => new ConfigReader().Read(dir.Write("main.conf", text.Replace("@ROOT@", dir.Path)));

    private static string Vhost(string name, string address, string body) =>
        $"<VirtualHost {address}>\nServerName {name}\nDocumentRoot @ROOT@\nAssignUserID daemon daemon\n{body}</VirtualHost>\n";

    [Fact]
    public void Port443AndHttpsListensAreTlsPortsAndSoIsAPortOfSslVhostsOnly()
    {
        using var dir = new TempDir();
        var config = Read(dir, "Listen 443\nListen 127.0.0.1:8443 https\nListen 8444\nListen 80\n"
            + Vhost("a.test", "*:8444", "SSLEngine on\nSSLCertificateFile /x.pem\n") + Vhost("b.test", "*:80", ""));
        Assert.False(config.HasErrors, string.Join("\n", config.Errors));
        bool Tls(string a) { HostAddress.TryParse(a, true, out var h, out _); return TlsPolicy.IsTlsListen(config, h!); }
        Assert.True(Tls("443"));
        Assert.True(Tls("127.0.0.1:8443"));
        Assert.True(Tls("8444"));   // Apache decides per vhost: all of them say SSLEngine on
        Assert.False(Tls("80"));
    }

    [Fact]
    public void SslDirectivesAreReadPerVhostAndPolicyIsInheritedFromTheServer()
    {
        using var dir = new TempDir();
        var config = Read(dir, "SSLProtocol -all +TLSv1.3\nSSLStrictSNIVHostCheck on\nProtocols http/1.1\n<IfModule mod_ssl.c>\nListen 443\n</IfModule>\n"
            + Vhost("a.test", "*:443", "SSLEngine on\nSSLCertificateFile certs/a.pem\nSSLCertificateKeyFile /keys/a.key\nSSLCertificateChainFile /c/chain.pem\nProtocols h2 http/1.1\n")
            + Vhost("b.test", "*:443", "SSLEngine on\nSSLCertificateFile /b.pem\nSSLProtocol all\n"));
        Assert.False(config.HasErrors, string.Join("\n", config.Errors));
        Assert.Single(config.Listens); // <IfModule mod_ssl.c> holds: itkd does TLS
        var a = config.VirtualHosts[0];
        var b = config.VirtualHosts[1];
        Assert.True(a.Tls.Engine);
        Assert.Equal(Path.Combine(dir.Path, "certs/a.pem"), a.Tls.CertificateFile); // relative to ServerRoot, as Apache
        Assert.Equal("/keys/a.key", a.Tls.EffectiveKeyFile);
        Assert.Equal("/b.pem", b.Tls.EffectiveKeyFile); // no SSLCertificateKeyFile: the key is in the certificate file
        Assert.Equal(["-all", "+TLSv1.3"], a.Tls.Protocol);
        Assert.Equal(["all"], b.Tls.Protocol);
        Assert.True(a.Tls.StrictSni);
        Assert.Equal(["h2", "http/1.1"], a.EffectiveProtocols);
        Assert.Equal(["http/1.1"], b.EffectiveProtocols); // the server's Protocols
    }

    [Fact]
    public void ProtocolsDefaultToH2AndHttp11OnTlsAndHttp11InTheClear()
    {
        using var dir = new TempDir();
        var config = Read(dir, Vhost("a.test", "*:443", "SSLEngine on\nSSLCertificateFile /a.pem\n") + Vhost("b.test", "*:80", ""));
        Assert.Equal(["h2", "http/1.1"], config.VirtualHosts[0].EffectiveProtocols);
        Assert.Equal(["http/1.1"], config.VirtualHosts[1].EffectiveProtocols);
    }

    [Theory]
    [InlineData("SSLVerifyClient require\n", 5, "client certificates")]
    [InlineData("SSLEngine maybe\n", 5, "on, off or optional")]
    [InlineData("SSLCipherSuite TLSv1.2 HIGH\n", 5, "SSL (TLS 1.2 and older) or TLSv1.3")]
    [InlineData("Protocols spdy/3\n", 5, "names none of")]
    [InlineData("<Directory />\nSSLEngine on\n</Directory>\n", 6, "not allowed in <Directory>")]
    public void BadTlsDirectivesAreErrorsAtTheirLine(string body, int line, string fragment)
    {
        using var dir = new TempDir();
        var config = Read(dir, Vhost("a.test", "*:443", body));
        var error = Assert.Single(config.Errors);
        Assert.Equal(line, error.Line);
        Assert.Contains(fragment, error.Message);
    }

    [Theory]
    [InlineData("SSLSessionCache shmcb:/x(512000)\n", "not needed by itkd")]
    [InlineData("SSLUseStapling on\n", "not supported by itkd")]
    [InlineData("SSLHonorCipherOrder on\n", "leaves the order")]
    [InlineData("SSLEngine optional\n", "not supported")]
    public void TlsDirectivesItkdCannotHonourAreWarnedAboutAtTheirLine(string body, string fragment)
    {
        using var dir = new TempDir();
        var config = Read(dir, Vhost("a.test", "*:443", body));
        var warning = Assert.Single(config.Diagnostics);
        Assert.Equal(DiagnosticSeverity.Warning, warning.Severity);
        Assert.Equal(5, warning.Line);
        Assert.Contains(fragment, warning.Message);
    }

    [Theory]
    [InlineData(null, SslProtocols.Tls12 | SslProtocols.Tls13, null)]
    [InlineData("all -SSLv3", SslProtocols.Tls12 | SslProtocols.Tls13, null)]
    [InlineData("-all +TLSv1.3", SslProtocols.Tls13, null)]
    [InlineData("TLSv1.2", SslProtocols.Tls12, null)]
    [InlineData("+TLSv1.1 +TLSv1.2", SslProtocols.Tls12, "TLSv1.1")]
    [InlineData("all -TLSv1.2", SslProtocols.Tls13, null)]
    public void SslProtocolReadsAsApacheReadsIt(string? text, SslProtocols expected, string? notOffered)
    {
        var offered = TlsPolicy.Protocols(text?.Split(' '), out string? said, out string? error);
        Assert.Null(error);
        Assert.Equal(expected, offered);
        Assert.Equal(notOffered, said);
    }

    [Theory]
    [InlineData("TLSv1", "neither TLSv1.2 nor TLSv1.3")]
    [InlineData("all -TLSv1.2 -TLSv1.3", "neither")]
    [InlineData("+TLSv9", "illegal protocol")]
    public void AnSslProtocolThatLeavesNothingIsAnError(string text, string fragment)
    {
        TlsPolicy.Protocols(text.Split(' '), out _, out string? error);
        Assert.Contains(fragment, error);
    }

    [Fact]
    public void SslCipherSuiteIsEvaluatedByOpenSsl()
    {
        var suites = TlsPolicy.CipherSuites("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305", null, out string? error);
        Assert.Null(error);
        Assert.Contains(TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, suites!);
        Assert.Contains(TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, suites!);
        Assert.DoesNotContain(TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, suites!);
        Assert.Contains(TlsCipherSuite.TLS_AES_256_GCM_SHA384, suites!); // TLS 1.3's defaults stay, as under mod_ssl

        var high = TlsPolicy.CipherSuites("HIGH:!aNULL:!MD5:!SHA1:!SHA256:!SHA384", "TLS_CHACHA20_POLY1305_SHA256", out error);
        Assert.Null(error);
        Assert.Contains(TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256, high!);
        Assert.DoesNotContain(TlsCipherSuite.TLS_AES_128_GCM_SHA256, high!);

        Assert.Null(TlsPolicy.CipherSuites(null, null, out error));
        TlsPolicy.CipherSuites("NO-SUCH-CIPHER", null, out error);
        Assert.Contains("selects no cipher", error);
    }

    // ---------------------------------------------------------------- keys, for real

    private static readonly UserAccount Daemon = SystemAccounts.Instance.FindUser("daemon")!;
    private static readonly GroupAccount DaemonGroup = SystemAccounts.Instance.FindGroup("daemon")!;

    private static string Key(TempDir dir, string owner, string group, string mode, string name = "key.pem")
    {
        string path = dir.Write(name, "-----BEGIN PRIVATE KEY-----\n");
        Assert.Equal(0, Syscall.chown(path, (int)SystemAccounts.Instance.FindUser(owner)!.Uid, (int)SystemAccounts.Instance.FindGroup(group)!.Gid));
        Assert.Equal(0, Syscall.chmod(path, (FilePermissions)Convert.ToUInt32(mode, 8)));
        return path;
    }

    private static TempDir RootDir()
    {
        var dir = new TempDir();
        Syscall.chmod(dir.Path, (FilePermissions)Convert.ToUInt32("755", 8));
        return dir;
    }

    [Fact]
    public void AKeyOfTheSiteUserWithMode600Passes()
    {
        using var dir = RootDir();
        Assert.Empty(KeyFileCheck.Problems(Key(dir, "daemon", "daemon", "600"), Daemon, DaemonGroup, SystemAccounts.Instance));
    }

    [Fact]
    public void ARootKeyTheSiteReadsThroughItsOwnPrivateGroupPasses()
    {
        using var dir = RootDir();
        Assert.Empty(KeyFileCheck.Problems(Key(dir, "root", "daemon", "640"), Daemon, DaemonGroup, SystemAccounts.Instance));
    }

    [Theory]
    [InlineData("daemon", "daemon", "644", "readable by everyone")]
    [InlineData("daemon", "daemon", "640", "readable by the group daemon")]
    [InlineData("daemon", "daemon", "620", "writable by its group")]
    [InlineData("nobody", "nogroup", "600", "owned by nobody")]
    [InlineData("root", "root", "600", "could not read it")]
    [InlineData("root", "nogroup", "640", "readable by the group nogroup")]
    public void AKeyOthersCouldReadOrTheSiteCannotIsRefused(string owner, string group, string mode, string fragment)
    {
        using var dir = RootDir();
        var problems = KeyFileCheck.Problems(Key(dir, owner, group, mode), Daemon, DaemonGroup, SystemAccounts.Instance).ToList();
        Assert.Contains(problems, p => p.Contains(fragment));
    }

    [Fact]
    public void AKeyInADirectoryAnotherAccountOwnsIsRefused()
    {
        using var dir = RootDir();
        Directory.CreateDirectory(Path.Combine(dir.Path, "other"));
        Syscall.chown(Path.Combine(dir.Path, "other"), (int)SystemAccounts.Instance.FindUser("nobody")!.Uid, 65534);
        string key = Key(dir, "daemon", "daemon", "600", "other/key.pem");
        var problems = KeyFileCheck.Problems(key, Daemon, DaemonGroup, SystemAccounts.Instance).ToList();
        Assert.Contains(problems, p => p.Contains("can be changed by its owner nobody"));
    }

    [Fact]
    public void AKeyInTheSitesOwnDirectoryPasses()
    {
        using var dir = RootDir();
        Directory.CreateDirectory(Path.Combine(dir.Path, "site"));
        Syscall.chown(Path.Combine(dir.Path, "site"), (int)Daemon.Uid, (int)DaemonGroup.Gid);
        Syscall.chmod(Path.Combine(dir.Path, "site"), (FilePermissions)Convert.ToUInt32("700", 8));
        Assert.Empty(KeyFileCheck.Problems(Key(dir, "daemon", "daemon", "600", "site/key.pem"), Daemon, DaemonGroup, SystemAccounts.Instance));
    }

    [Fact]
    public void AKeyThatIsASymlinkToAnotherTenantsKeyIsJudgedByTheTarget()
    {
        using var dir = RootDir();
        string other = Key(dir, "nobody", "nogroup", "600", "b.key");
        string link = Path.Combine(dir.Path, "a.key");
        File.CreateSymbolicLink(link, other);
        Assert.Contains(KeyFileCheck.Problems(link, Daemon, DaemonGroup, SystemAccounts.Instance), p => p.Contains("owned by nobody"));
    }

    [Fact]
    public void StartUpValidationNamesTheKeyDirectivesFileAndLine()
    {
        using var dir = RootDir();
        string key = Key(dir, "daemon", "daemon", "644");
        string cert = dir.Write("cert.pem", "-----BEGIN CERTIFICATE-----\n");
        var config = Read(dir, "Listen 443\n" + Vhost("a.test", "*:443", $"SSLEngine on\nSSLCertificateFile {cert}\nSSLCertificateKeyFile {key}\n"));
        var errors = ConfigValidator.Validate(config, SystemAccounts.Instance).Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        var e = Assert.Single(errors);
        Assert.Equal((config.MainFile, 8), (e.File, e.Line));
        Assert.Contains("readable by everyone (mode 0644)", e.Message);
    }

    [Fact]
    public void ValidationRefusesSslEngineWithoutACertificateAndCleartextVhostsOnATlsPort()
    {
        using var dir = RootDir();
        var config = Read(dir, "Listen 443\nListen 80\n" + Vhost("a.test", "*:443", "SSLEngine on\n") + Vhost("b.test", "*:443", "")
            + Vhost("c.test", "*:80", "SSLEngine on\nSSLCertificateFile /nonexistent.pem\n") + Vhost("d.test", "*:80", ""));
        var errors = ConfigValidator.Validate(config, SystemAccounts.Instance, checkFiles: false).Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.Contains(errors, e => e.Line == 7 && e.Message.Contains("without SSLCertificateFile"));
        Assert.Contains(errors, e => e.Line == 9 && e.Message.Contains("vhost b.test is reachable on the TLS port *:443"));
        Assert.Contains(errors, e => e.Line == 18 && e.Message.Contains("vhost c.test has SSLEngine on but is also reachable on the cleartext port *:80"));
    }
}
