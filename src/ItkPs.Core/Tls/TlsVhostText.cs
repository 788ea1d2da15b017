using ItkPs.Core.Config;
using ItkPs.Core.Hosting;
using ItkPs.Core.Unix;

namespace ItkPs.Core.Tls;

/// <summary>
/// The mod_ssl lines the cmdlets write into a vhost (the same under Apache + mod_ssl and itkd), and
/// the https Listen of the main file.
/// </summary>
public static class TlsVhostText
{
    /// <summary>SSLEngine on and the pair's files; an SSLCertificateChainFile goes (the chain is in the certificate file).</summary>
    public static void Apply(VhostEditor e, string certificateFile, string? keyFile)
    {
        e.Set("SSLEngine", ["on"]);
        e.Set("SSLCertificateFile", [certificateFile]);
        e.Set("SSLCertificateKeyFile", keyFile is null ? null : [keyFile]);
        e.Set("SSLCertificateChainFile", null);
    }

    /// <summary>A new vhost file's text (New-ItkVhost's) with the TLS lines in it.</summary>
    public static string NewVhostText(VhostSpec spec, string file, string certificateFile, string keyFile)
    {
        var doc = ConfigDocument.Parse(ConfigRoot.NewVhostText(spec), file);
        var section = doc.Roots.First(n => n.Is("VirtualHost"));
        var e = new VhostEditor(doc, section.Line);
        Apply(e, certificateFile, keyFile);
        return e.ToText();
    }

    /// <summary>
    /// Makes the main file listen on the vhost's TLS port: "Listen 443" (https by default, as in
    /// Apache) or "Listen [address:]port https". Creates the main file if it is missing; does nothing
    /// when a Listen already covers the port. Run before ConfigRoot.EnsureMainFile, which then finds it.
    /// </summary>
    public static bool EnsureTlsListen(ConfigRoot root, HostAddress listen, IAccountDatabase accounts)
    {
        bool exists = File.Exists(root.MainFile);
        string text = exists ? File.ReadAllText(root.MainFile) : root.NewMainFileText(accounts);
        if (exists && new ConfigReader().Read(root.MainFile).Listens.Any(l => l.Address.Port == listen.Port && (l.Address.AnyHost || listen.AnyHost || l.Address.Host == listen.Host)))
            return false;
        string address = listen.AnyHost ? listen.Port!.Value.ToString() : listen.ToString();
        string line = listen.Port == 443 ? $"Listen {address}\n" : $"Listen {address} https\n";
        int at = text.IndexOf("IncludeOptional", StringComparison.Ordinal);
        if (at >= 0 && (at == 0 || text[at - 1] == '\n')) text = text.Insert(at, line);
        else text += (text.EndsWith('\n') || text.Length == 0 ? "" : "\n") + line;
        AtomicFile.Write(root.MainFile, text);
        return true;
    }
}
