using System.Diagnostics;
using ItkPs.Core.Unix;

namespace ItkPs.Core.Tls;

/// <summary>What one ACME request is for.</summary>
public sealed record AcmeRequest(
    string Name,
    IReadOnlyList<string> Domains,
    string DocumentRoot,
    UserAccount User,
    GroupAccount Group,
    string SiteDirectory,
    string Email,
    string Server,
    string? CaCertificate,
    string KeyType = "ec256",
    bool Renew = false,
    int Days = 30,
    bool RandomSleep = true);

/// <summary>What lego did: its exit code, what it printed, and where the pair is.</summary>
public sealed record AcmeResult(int ExitCode, string Output, string CertificateFile, string KeyFile)
{
    public bool Ok => ExitCode == 0;
}

/// <summary>
/// Certificates issued as the site's user, with Debian's lego (golang-github-go-acme-lego). Lego
/// because it is one program with no runtime of its own, does HTTP-01 by writing the token into a
/// webroot (the site's own DocumentRoot, which itkd then serves as the site's user), keeps all its
/// state under one --path (the site's folder), needs no root and no configuration file, and its
/// "renew --days N" does nothing until a certificate is due — what a timer wants. certbot needs
/// writable /etc and /var folders of its own (or three options to move them) and Python;
/// dehydrated needs a configuration and a hook script per site. Lego runs under setpriv with the
/// site's uid, gid and groups, no_new_privs and a clean environment: the key it generates is
/// created by the site's user, in the site's folder, and no root process ever opens it.
/// </summary>
public static class AcmeClient
{
    public const string LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory";

    /// <summary>Where lego keeps the account and the certificates in the site folder.</summary>
    public static string LegoPath(string siteDirectory) => Path.Combine(siteDirectory, "acme");

    /// <summary>Lego's file name for a domain (a wildcard's '*' becomes '_').</summary>
    public static string CertificateFile(string siteDirectory, string name) => Path.Combine(LegoPath(siteDirectory), "certificates", name.Replace('*', '_') + ".crt");
    public static string KeyFile(string siteDirectory, string name) => Path.Combine(LegoPath(siteDirectory), "certificates", name.Replace('*', '_') + ".key");

    /// <summary>setpriv's and lego's command line for the request.</summary>
    public static ProcessStartInfo Command(AcmeRequest r, string lego = "lego")
    {
        var psi = new ProcessStartInfo("setpriv") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in new[] { $"--reuid={r.User.Uid}", $"--regid={r.Group.Gid}", "--init-groups", "--no-new-privs", "--reset-env", "--", "env" }) psi.ArgumentList.Add(a);
        if (r.CaCertificate is not null) psi.ArgumentList.Add($"LEGO_CA_CERTIFICATES={r.CaCertificate}");
        psi.ArgumentList.Add(lego);
        void Add(params string[] a) { foreach (var x in a) psi.ArgumentList.Add(x); }
        Add("--accept-tos", "--email", r.Email, "--server", r.Server, "--path", LegoPath(r.SiteDirectory), "--key-type", r.KeyType);
        foreach (var d in r.Domains) Add("--domains", d);
        Add("--http", "--http.webroot", r.DocumentRoot);
        if (r.Renew)
        {
            Add("renew", "--days", r.Days.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (!r.RandomSleep) Add("--no-random-sleep");
        }
        else Add("run");
        psi.WorkingDirectory = "/";
        return psi;
    }

    /// <summary>Runs lego as the site's user and waits (at most <paramref name="timeout"/>).</summary>
    public static AcmeResult Run(AcmeRequest r, TimeSpan timeout, string lego = "lego")
    {
        using var p = Process.Start(Command(r, lego)) ?? throw new InvalidOperationException("setpriv did not start");
        p.StandardInput.Close(); // lego never gets to ask anything
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            return new AcmeResult(-1, $"lego did not finish within {timeout.TotalSeconds:0} s", "", "");
        }
        string output = (stdout.Result + stderr.Result).Trim();
        return new AcmeResult(p.ExitCode, output, CertificateFile(r.SiteDirectory, r.Name), KeyFile(r.SiteDirectory, r.Name));
    }
}
