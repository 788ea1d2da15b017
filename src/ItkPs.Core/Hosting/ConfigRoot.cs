using System.Text;
using System.Text.RegularExpressions;
using ItkPs.Core.Config;
using ItkPs.Core.Unix;

namespace ItkPs.Core.Hosting;

/// <summary>What a new vhost file says.</summary>
public sealed record VhostSpec(
    string Name,
    string DocumentRoot,
    IReadOnlyList<string> Aliases,
    string? User,
    string? Group,
    HostAddress Listen,
    int? MaxClients,
    int? Nice,
    PhpMode Php = PhpMode.Off,
    bool Cgi = false);

/// <summary>How a vhost runs .php files: not at all (served as files are not: no handler is written), or over FastCGI as the vhost's user.</summary>
public enum PhpMode { Off, FastCgi }

/// <summary>The directives -Php and -Cgi write, in the forms Apache (+ mod_php, mod_cgi) and itkd both read.</summary>
public static class ScriptDirectives
{
    /// <summary>mod_php's own form; itkd maps it to the user's php-cgi pool.</summary>
    public const string PhpHandler = "application/x-httpd-php";
    public const string PhpPattern = "\\.php$";
    public static readonly string[] PhpIndex = ["index.php", "index.html"];
    public static readonly string[] CgiHandler = ["cgi-script", ".cgi"];

    public static string PhpBlock(string indent, string newline = "\n") =>
        $"{indent}<FilesMatch \"{PhpPattern}\">{newline}{indent}    SetHandler {PhpHandler}{newline}{indent}</FilesMatch>{newline}";

    /// <summary>True for a &lt;FilesMatch&gt;/&lt;Files&gt; node whose SetHandler is PHP's.</summary>
    public static bool IsPhpBlock(ConfigNode n) =>
        n.IsSection && (n.Is("FilesMatch") || n.Is("Files")) &&
        n.Children.Any(c => c.Is("SetHandler") && c.Args.Count == 1 && c.Args[0].Equals(PhpHandler, StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// The folder ItkPs manages (default /etc/itkps): a main file "itkps.conf" (Listen, User,
/// Group, and an IncludeOptional of the vhosts folder) and one file per vhost in
/// "vhosts.d/&lt;ServerName&gt;.conf". Apache can Include the same vhost files.
/// </summary>
public sealed partial class ConfigRoot
{
    public const string DefaultPath = "/etc/itkps";
    public const string EnvironmentVariable = "ITKPS_CONFIG_ROOT";
    public const string MainFileName = "itkps.conf";
    public const string VhostFolderName = "vhosts.d";

    public ConfigRoot(string path) { Path = System.IO.Path.GetFullPath(path); }

    /// <summary>An explicit path, else $ITKPS_CONFIG_ROOT, else /etc/itkps.</summary>
    public static ConfigRoot Resolve(string? explicitPath)
    {
        string? env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        return new ConfigRoot(!string.IsNullOrEmpty(explicitPath) ? explicitPath : !string.IsNullOrEmpty(env) ? env : DefaultPath);
    }

    public string Path { get; }
    public string MainFile => System.IO.Path.Combine(Path, MainFileName);
    public string VhostFolder => System.IO.Path.Combine(Path, VhostFolderName);
    public string VhostFile(string name) => System.IO.Path.Combine(VhostFolder, name.ToLowerInvariant() + ".conf");

    [GeneratedRegex(@"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$", RegexOptions.IgnoreCase)]
    private static partial Regex HostNameRegex();

    [GeneratedRegex(@"^(\*\.)?([a-z0-9*?]([a-z0-9*?-]{0,61}[a-z0-9*?])?)(\.[a-z0-9*?]([a-z0-9*?-]{0,61}[a-z0-9*?])?)*$", RegexOptions.IgnoreCase)]
    private static partial Regex AliasRegex();

    public static bool IsValidServerName(string name) => HostNameRegex().IsMatch(name);
    public static bool IsValidAlias(string alias) => AliasRegex().IsMatch(alias);

    /// <summary>Reads the whole configuration (main file and its includes).</summary>
    public ServerConfig Read()
    {
        if (File.Exists(MainFile)) return new ConfigReader().Read(MainFile);
        var files = Directory.Exists(VhostFolder) ? Directory.GetFiles(VhostFolder, "*.conf").Order(StringComparer.Ordinal) : Enumerable.Empty<string>();
        return new ConfigReader().ReadFiles(MainFile, files);
    }

    /// <summary>The user the dispatcher runs as by default: the distribution's web user.</summary>
    public static string DefaultServerUser(IAccountDatabase accounts) =>
        new[] { "www-data", "apache", "nobody" }.FirstOrDefault(u => accounts.FindUser(u) is not null) ?? "nobody";

    /// <summary>The text of a fresh main file.</summary>
    public string NewMainFileText(IAccountDatabase accounts)
    {
        string user = DefaultServerUser(accounts);
        string group = accounts.FindUser(user) is { } u && accounts.FindGroup(u.Gid) is { } g ? g.Name : user;
        return $"""
            # ItkPs main configuration, Apache syntax. itkd reads this file; Apache + mpm-itk
            # can Include the vhost files below from its own configuration.
            # User/Group: what vhosts without AssignUserID run as (mpm-itk's fallback). itkd's
            # dispatcher has an account of its own (itkd --dispatcher-user, default itkd).
            User {user}
            Group {group}
            DirectoryIndex index.html
            IncludeOptional {ConfigDocument.Quote(System.IO.Path.Combine(VhostFolder, "*.conf"))}

            """;
    }

    /// <summary>The text of a new vhost file.</summary>
    public static string NewVhostText(VhostSpec spec)
    {
        var sb = new StringBuilder();
        sb.Append($"# {spec.Name}: written by New-ItkVhost. Apache syntax, read by Apache + mpm-itk and itkd;\n");
        sb.Append("# edit freely, ItkPs keeps comments and lines it does not know.\n");
        sb.Append($"<VirtualHost {spec.Listen}>\n");
        void D(string name, params string[] args) => sb.Append(ConfigDocument.FormatDirective("    ", name, args));
        D("ServerName", spec.Name);
        if (spec.Aliases.Count > 0) D("ServerAlias", spec.Aliases.ToArray());
        D("DocumentRoot", spec.DocumentRoot);
        if (spec.User is not null) D("AssignUserID", spec.User, spec.Group ?? spec.User);
        if (spec.MaxClients is int mc) D("MaxClientsVHost", mc.ToString());
        if (spec.Nice is int nice) D("NiceValue", nice.ToString());
        if (spec.Php == PhpMode.FastCgi) D("DirectoryIndex", ScriptDirectives.PhpIndex);
        if (spec.Cgi)
        {
            D("Options", "+ExecCGI");
            D("AddHandler", ScriptDirectives.CgiHandler);
        }
        if (spec.Php == PhpMode.FastCgi) sb.Append(ScriptDirectives.PhpBlock("    "));
        sb.Append($"    <Directory {ConfigDocument.Quote(spec.DocumentRoot)}>\n");
        sb.Append("        Options -Indexes\n");
        sb.Append("        AllowOverride None\n");
        sb.Append("        Require all granted\n");
        sb.Append("    </Directory>\n");
        sb.Append("</VirtualHost>\n");
        return sb.ToString();
    }

    /// <summary>
    /// Creates the main file if missing and makes sure some Listen covers the vhost's port.
    /// Returns true when it wrote the main file.
    /// </summary>
    public bool EnsureMainFile(HostAddress listen, IAccountDatabase accounts)
    {
        string text = File.Exists(MainFile) ? File.ReadAllText(MainFile) : NewMainFileText(accounts);
        bool changed = !File.Exists(MainFile);
        var config = changed ? null : new ConfigReader().Read(MainFile);
        bool covered = config is not null && config.Listens.Any(l => l.Address.Port == listen.Port && (l.Address.AnyHost || listen.AnyHost || l.Address.Host == listen.Host));
        if (!covered)
        {
            string line = $"Listen {(listen.AnyHost ? listen.Port.ToString() : listen.ToString())}\n";
            // Listen lines go before the IncludeOptional so the file reads top-down.
            int at = text.IndexOf("IncludeOptional", StringComparison.Ordinal);
            if (at >= 0 && (at == 0 || text[at - 1] == '\n')) text = text.Insert(at, line);
            else text += (text.EndsWith('\n') || text.Length == 0 ? "" : "\n") + line;
            changed = true;
        }
        if (changed) AtomicFile.Write(MainFile, text);
        return changed;
    }
}
