using System.Diagnostics;
using ItkPs.Core.Tls;
using ItkPs.Core.Unix;
using Mono.Unix.Native;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>
/// Set-ItkCertificate's installer, for real (as root, for the system account daemon): the pair is
/// checked, lands in a 0700 folder of the site with the key 0600, and root never writes through a
/// link the site put in its own folder, nor into a folder the site swapped for a link.
/// </summary>
public class CertificateStoreTests
{
    private static readonly UserAccount Daemon = SystemAccounts.Instance.FindUser("daemon")!;
    private static readonly GroupAccount DaemonGroup = SystemAccounts.Instance.FindGroup("daemon")!;

    private static TempDir Root()
    {
        var dir = new TempDir();
        Syscall.chmod(dir.Path, (FilePermissions)Convert.ToUInt32("755", 8));
        return dir;
    }

    private static (string Cert, string Key) Pair(TempDir dir, string name)
    {
        string key = Path.Combine(dir.Path, name + ".key"), cert = Path.Combine(dir.Path, name + ".crt");
        var p = Process.Start(new ProcessStartInfo("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", cert, "-days", "2", "-subj", $"/CN={name}", "-addext", $"subjectAltName=DNS:{name}"]) { RedirectStandardError = true })!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        return (cert, key);
    }

    private static string Stat(string path)
    {
        Assert.Equal(0, Syscall.lstat(path, out var st));
        string type = (st.st_mode & FilePermissions.S_IFMT) == FilePermissions.S_IFDIR ? "dir" : (st.st_mode & FilePermissions.S_IFMT) == FilePermissions.S_IFREG ? "file" : "other";
        return $"{type} {st.st_uid} {Convert.ToString((uint)st.st_mode & 0xfff, 8)}";
    }

    [Fact]
    public void InstallsThePairInAFolderOfTheSiteKeyOnlyForIt()
    {
        using var dir = Root();
        var (cert, key) = Pair(dir, "a.test");
        var installed = CertificateStore.Install(Path.Combine(dir.Path, "etc"), "A.test", Daemon, DaemonGroup, CertificateStore.Read(cert, key, null));
        Assert.Equal(Path.Combine(dir.Path, "etc/tls/a.test"), installed.Directory);
        Assert.Equal($"dir {Daemon.Uid} 700", Stat(installed.Directory));
        Assert.Equal($"file {Daemon.Uid} 600", Stat(installed.KeyFile));
        Assert.Equal($"file {Daemon.Uid} 644", Stat(installed.CertificateFile));
        Assert.Equal("dir 0 755", Stat(Path.Combine(dir.Path, "etc/tls")));
        Assert.Equal(File.ReadAllText(key).Trim(), File.ReadAllText(installed.KeyFile).Trim());
        Assert.Empty(Directory.GetFiles(installed.Directory, ".*")); // no temporary file left
    }

    [Fact]
    public void ALinkTheSitePutInPlaceOfItsKeyIsReplacedNotWrittenThrough()
    {
        using var dir = Root();
        var (cert, key) = Pair(dir, "a.test");
        string victim = dir.Write("victim.txt", "root's file\n");
        string site = CertificateStore.PrepareSiteDirectory(Path.Combine(dir.Path, "etc"), "a.test", Daemon, DaemonGroup);
        File.CreateSymbolicLink(Path.Combine(site, CertificateStore.KeyName), victim);
        File.CreateSymbolicLink(Path.Combine(site, CertificateStore.CertificateName), victim);
        CertificateStore.Install(Path.Combine(dir.Path, "etc"), "a.test", Daemon, DaemonGroup, CertificateStore.Read(cert, key, null));
        Assert.Equal("root's file\n", File.ReadAllText(victim));
        Assert.Equal($"file {Daemon.Uid} 600", Stat(Path.Combine(site, CertificateStore.KeyName)));
    }

    [Fact]
    public void ASiteFolderSwappedForALinkIsRefused()
    {
        using var dir = Root();
        var (cert, key) = Pair(dir, "a.test");
        Directory.CreateDirectory(Path.Combine(dir.Path, "elsewhere"));
        Directory.CreateDirectory(Path.Combine(dir.Path, "etc/tls"));
        Syscall.chmod(Path.Combine(dir.Path, "etc/tls"), (FilePermissions)Convert.ToUInt32("755", 8));
        File.CreateSymbolicLink(Path.Combine(dir.Path, "etc/tls/a.test"), Path.Combine(dir.Path, "elsewhere"));
        var e = Assert.Throws<IOException>(() => CertificateStore.Install(Path.Combine(dir.Path, "etc"), "a.test", Daemon, DaemonGroup, CertificateStore.Read(cert, key, null)));
        Assert.Contains("a link or a file", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(dir.Path, "elsewhere")));
    }

    [Fact]
    public void AKeyOfAnotherCertificateIsRefused()
    {
        using var dir = Root();
        var (cert, _) = Pair(dir, "a.test");
        var (_, otherKey) = Pair(dir, "b.test");
        var e = Assert.Throws<InvalidDataException>(() => CertificateStore.Read(cert, otherKey, null));
        Assert.Contains("does not belong to the certificate", e.Message);
    }

    [Fact]
    public void ACombinedPemGivesLeafChainAndKey()
    {
        using var dir = Root();
        var (cert, key) = Pair(dir, "a.test");
        string combined = dir.Write("combined.pem", File.ReadAllText(cert) + File.ReadAllText(key));
        var pair = CertificateStore.Read(combined, null, null);
        Assert.Equal("CN=a.test", pair.Leaf.Subject);
        Assert.Contains("PRIVATE KEY", pair.KeyPem);
        Assert.DoesNotContain("PRIVATE KEY", pair.CertificatesPem);
    }

    [Fact]
    public void ReadingACertificateAsRootFollowsNoLinkAtItsEnd()
    {
        using var dir = Root();
        var (cert, _) = Pair(dir, "a.test");
        string link = Path.Combine(dir.Path, "link.pem");
        File.CreateSymbolicLink(link, cert);
        Assert.Single(CertificateStore.ReadCertificates(cert));
        Assert.Throws<IOException>(() => CertificateStore.ReadCertificates(link));
    }
}
