using ItkPs.Core.Config;
using ItkPs.Core.Hosting;

namespace ItkPs;

/// <summary>
/// A virtual host as Get-ItkVhost shows it: what it serves, as whom, and where it is written.
/// Read-only: change a vhost with Set-ItkVhost or Set-ItkUser, which edit its file.
/// </summary>
public sealed class VhostInfo
{
    internal VhostInfo(VirtualHost vh)
    {
        Name = vh.Name;
        Aliases = vh.Aliases.ToArray();
        Listen = vh.Listen;
        DocumentRoot = vh.DocumentRoot;
        User = vh.User;
        Group = vh.Group;
        MaxClients = vh.MaxClients;
        Nice = vh.Nice;
        Php = Enum.Parse<PhpMode>(vh.Php);
        Cgi = vh.Cgi;
        File = vh.File;
        Line = vh.Line;
        ConfigFile = vh.ConfigFile;
    }

    /// <summary>The ServerName; empty for a vhost that has none.</summary>
    public string Name { get; }
    /// <summary>The ServerAlias names, wildcards as written.</summary>
    public string[] Aliases { get; }
    /// <summary>The &lt;VirtualHost&gt; addresses, e.g. "*:80" or "127.0.0.1:8080".</summary>
    public string Listen { get; }
    public string? DocumentRoot { get; }
    /// <summary>The user its requests run as: AssignUserID, else the server's User (as mpm-itk does).</summary>
    public string? User { get; }
    /// <summary>The group its requests run as: AssignUserID, else the server's Group.</summary>
    public string? Group { get; }
    /// <summary>MaxClientsVHost, when set.</summary>
    public int? MaxClients { get; }
    /// <summary>NiceValue, when set.</summary>
    public int? Nice { get; }
    /// <summary>FastCgi when .php files run as the vhost's user, else Off.</summary>
    public PhpMode Php { get; }
    /// <summary>True when the vhost runs CGI programs (ScriptAlias, or ExecCGI with a cgi-script handler).</summary>
    public bool Cgi { get; }
    /// <summary>The file holding the &lt;VirtualHost&gt; section, and its line.</summary>
    public string File { get; }
    public int Line { get; }
    /// <summary>The main configuration file it was read through (binds Set-ItkVhost's -ConfigFile).</summary>
    public string? ConfigFile { get; }

    public override string ToString() => Name.Length > 0 ? Name : $"{Listen} ({File}:{Line})";
}
