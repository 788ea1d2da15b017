using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Hosting;

namespace ItkPs.Commands;

/// <summary>Set-ItkVhost: changes directives of existing vhosts, keeping the rest of their files.</summary>
[Cmdlet(VerbsCommon.Set, "ItkVhost", SupportsShouldProcess = true, DefaultParameterSetName = "Name")]
[OutputType(typeof(VirtualHost))]
public sealed class SetItkVhostCommand : VhostTargetCmdlet
{
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? DocumentRoot { get; set; }

    /// <summary>Replaces the aliases; an empty array removes them.</summary>
    [Parameter]
    [Alias("ServerAlias")]
    [AllowEmptyCollection]
    public string[]? Alias { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(UserNameCompleter))]
    public string? User { get; set; }

    [Parameter]
    public string? Group { get; set; }

    /// <summary>0 removes the limit.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int? MaxClients { get; set; }

    [Parameter]
    [ValidateRange(-20, 19)]
    public int? Nice { get; set; }

    /// <summary>FastCgi adds PHP's handler block (and index.php to DirectoryIndex); Off removes them.</summary>
    [Parameter]
    public PhpMode? Php { get; set; }

    /// <summary>-Cgi adds ExecCGI and the cgi-script handler for .cgi; -Cgi:$false takes them out.</summary>
    [Parameter]
    public SwitchParameter Cgi { get; set; }

    private bool CgiGiven => MyInvocation.BoundParameters.ContainsKey(nameof(Cgi));

    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var a in Alias ?? [])
        {
            if (Core.Hosting.ConfigRoot.IsValidAlias(a)) continue;
            WriteError(Error(ErrorIds.InvalidAlias, ErrorCategory.InvalidArgument, a, $"-Alias '{a}' is not a host name or a wildcard like *.example.com."));
            return;
        }
        if (Group is not null && User is null)
        {
            WriteError(Error(ErrorIds.UserNotFound, ErrorCategory.InvalidArgument, Group, "-Group needs -User: AssignUserID names both."));
            return;
        }
        foreach (var vh in Targets())
        {
            var changes = new List<string>();
            string? group = User is null ? null : Group ?? PrimaryGroup(User);
            if (User is not null && !CheckIdentity(User, group!, vh)) continue;
            string? docRoot = DocumentRoot is null ? null : ResolvePath(DocumentRoot);
            if (docRoot is not null && !Directory.Exists(docRoot))
                WriteWarning($"DocumentRoot '{docRoot}' does not exist yet; create it before the vhost is served.");

            bool ok = Edit(vh, Describe(docRoot, group), e =>
            {
                if (docRoot is not null)
                {
                    e.Set("DocumentRoot", [docRoot]);
                    if (vh.DocumentRoot is not null) e.RenameDirectory(vh.DocumentRoot, docRoot);
                }
                if (Alias is not null) e.Set("ServerAlias", Alias.Length == 0 ? null : Alias);
                if (User is not null) e.Set("AssignUserID", [User, group!]);
                if (MaxClients is int mc) e.Set("MaxClientsVHost", mc == 0 ? null : [mc.ToString()]);
                if (Nice is int n) e.Set("NiceValue", [n.ToString()]);
                if (Php is PhpMode php) SetPhp(e, php);
                if (CgiGiven) SetCgi(e, Cgi.IsPresent);
            });
            if (ok && PassThru) WriteObject(Reread(vh));
        }
    }

    private static void SetPhp(VhostEditor e, PhpMode php)
    {
        var index = e.Get("DirectoryIndex");
        bool ours = index is not null && index.SequenceEqual(ScriptDirectives.PhpIndex);
        if (php == PhpMode.FastCgi)
        {
            if (!e.HasBlock(ScriptDirectives.IsPhpBlock)) e.AddBlock((indent, nl) => ScriptDirectives.PhpBlock(indent, nl));
            if (index is null) e.Set("DirectoryIndex", ScriptDirectives.PhpIndex);
            else if (!index.Contains("index.php")) e.Set("DirectoryIndex", ["index.php", .. index]);
        }
        else
        {
            e.RemoveBlocks(ScriptDirectives.IsPhpBlock);
            // index.php must not be handed out as a file once PHP is off.
            if (ours) e.Set("DirectoryIndex", null);
            else if (index is not null && index.Contains("index.php"))
            {
                var rest = index.Where(i => i != "index.php").ToArray();
                e.Set("DirectoryIndex", rest.Length == 0 ? null : rest);
            }
        }
    }

    private static void SetCgi(VhostEditor e, bool on)
    {
        var options = e.Get("Options")?.ToList();
        static bool IsCgiHandler(IReadOnlyList<string> a) => a.Count > 1 && a[0].Equals("cgi-script", StringComparison.OrdinalIgnoreCase);
        bool hasCgiHandler = e.GetAll("AddHandler").Any(a => IsCgiHandler(a) && a.Skip(1).Any(x => x.Equals(".cgi", StringComparison.OrdinalIgnoreCase) || x.Equals("cgi", StringComparison.OrdinalIgnoreCase)));
        if (on)
        {
            if (options is null) e.Set("Options", ["+ExecCGI"]);
            else if (!options.Any(o => o.TrimStart('+').Equals("ExecCGI", StringComparison.OrdinalIgnoreCase) || o.Equals("All", StringComparison.OrdinalIgnoreCase)))
            {
                // Keep the line's form: all-relative stays relative, an absolute list gets the plain name.
                bool relative = options.All(o => o.StartsWith('+') || o.StartsWith('-'));
                options.RemoveAll(o => o.Equals("-ExecCGI", StringComparison.OrdinalIgnoreCase));
                options.Add(relative ? "+ExecCGI" : "ExecCGI");
                e.Set("Options", options);
            }
            if (!hasCgiHandler) e.Add("AddHandler", ScriptDirectives.CgiHandler);
        }
        else
        {
            if (options is not null)
            {
                options.RemoveAll(o => o.TrimStart('+').Equals("ExecCGI", StringComparison.OrdinalIgnoreCase));
                e.Set("Options", options.Count == 0 ? null : options);
            }
            e.RemoveWhere("AddHandler", IsCgiHandler);
        }
    }

    private string Describe(string? docRoot, string? group)
    {
        var parts = new List<string>();
        if (docRoot is not null) parts.Add($"DocumentRoot {docRoot}");
        if (Alias is not null) parts.Add(Alias.Length == 0 ? "no ServerAlias" : $"ServerAlias {string.Join(' ', Alias)}");
        if (User is not null) parts.Add($"AssignUserID {User} {group}");
        if (MaxClients is int mc) parts.Add(mc == 0 ? "no MaxClientsVHost" : $"MaxClientsVHost {mc}");
        if (Nice is int n) parts.Add($"NiceValue {n}");
        if (Php is PhpMode php) parts.Add($"PHP {php}");
        if (CgiGiven) parts.Add(Cgi ? "CGI on" : "CGI off");
        return parts.Count == 0 ? "Update vhost (nothing to change)" : "Set " + string.Join(", ", parts);
    }
}
