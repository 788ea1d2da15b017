using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Hosting;

namespace ItkPs.Commands;

/// <summary>Changes settings of existing virtual hosts.</summary>
/// <remarks>
/// <para>Edits the vhost in its file: a changed directive is rewritten on its own line, a new one is added, and every other line (comments, directives ItkPs does not know) is kept byte for byte. The file is replaced atomically and the old one kept as .bak.</para>
/// <para>Accepts vhosts from the pipeline (Get-ItkVhost output, or objects with a Name property) and changes only what the parameters given ask for: nothing else binds from the piped object.</para>
/// </remarks>
/// <example>
/// <code>Set-ItkVhost -Name shop.example.com -MaxClients 50 -PassThru</code>
/// <para>Raises the shop's limit and shows the result.</para>
/// </example>
/// <example>
/// <code>Get-ItkVhost *.example.com | Set-ItkVhost -Nice 10 -WhatIf</code>
/// <para>Shows which files would change, and how.</para>
/// </example>
/// <example>
/// <code>Get-ItkVhost | Where-Object Php -eq FastCgi | Set-ItkVhost -Php Off -Cgi:$false</code>
/// <para>Turns PHP and CGI off for every vhost that has PHP on; the handler block, index.php and ExecCGI go, other lines stay.</para>
/// </example>
/// <seealso cref="GetItkVhostCommand"/>
/// <seealso cref="SetItkUserCommand"/>
[Cmdlet(VerbsCommon.Set, "ItkVhost", SupportsShouldProcess = true, DefaultParameterSetName = "Name")]
[OutputType(typeof(VhostInfo))]
public sealed class SetItkVhostCommand : VhostTargetCmdlet
{
    /// <summary>A new DocumentRoot; a &lt;Directory&gt; block for the old one moves with it.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [PSDefaultValue(Help = "unchanged")]
    public string? DocumentRoot { get; set; }

    /// <summary>Replaces the ServerAlias names; @() removes them.</summary>
    [Parameter]
    [Alias("ServerAlias")]
    [AllowEmptyCollection]
    [PSDefaultValue(Help = "unchanged")]
    public string[]? Alias { get; set; }

    /// <summary>A new AssignUserID user.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(UserNameCompleter))]
    [PSDefaultValue(Help = "unchanged")]
    public string? User { get; set; }

    /// <summary>The group for AssignUserID; needs -User.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(GroupNameCompleter))]
    [PSDefaultValue(Help = "the primary group of -User")]
    public string? Group { get; set; }

    /// <summary>A new MaxClientsVHost; 0 removes the limit.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    [PSDefaultValue(Help = "unchanged")]
    public int? MaxClients { get; set; }

    /// <summary>A new NiceValue.</summary>
    [Parameter]
    [ValidateRange(-20, 19)]
    [PSDefaultValue(Help = "unchanged")]
    public int? Nice { get; set; }

    /// <summary>FastCgi adds the PHP handler block (and index.php to DirectoryIndex); Off removes the block and index.php, so PHP source is never handed out as a file.</summary>
    [Parameter]
    [PSDefaultValue(Help = "unchanged")]
    public PhpMode? Php { get; set; }

    /// <summary>-Cgi adds Options +ExecCGI and AddHandler cgi-script .cgi; -Cgi:$false removes them (other Options and handlers stay).</summary>
    [Parameter]
    [PSDefaultValue(Help = "unchanged")]
    public SwitchParameter Cgi { get; set; }

    private bool CgiGiven => MyInvocation.BoundParameters.ContainsKey(nameof(Cgi));

    /// <summary>Writes the changed vhost, as read back from its file, to the pipeline.</summary>
    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var a in Alias ?? [])
        {
            if (Core.Hosting.ConfigRoot.IsValidAlias(a)) continue;
            WriteError(Errors.InvalidArgument(ErrorIds.InvalidAlias, nameof(Alias), a, $"-Alias '{a}' is not a host name or a wildcard like *.example.com."));
            return;
        }
        if (Group is not null && User is null)
        {
            WriteError(GroupNeedsUser(Group));
            return;
        }
        string? docRoot = DocumentRoot is null ? null : ResolvePath(DocumentRoot);
        foreach (var vh in Targets())
        {
            string? group = User is null ? null : Group ?? PrimaryGroup(User);
            if (User is not null && !CheckIdentity(User, group!, vh.Name)) continue;
            if (OpenEditor(vh) is not { } e) continue;
            string before = e.ToText();
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

            if (e.ToText() == before)
            {
                // Already as asked: no write, no .bak, no What-if line, as for an edit already made.
                WriteVerbose($"{vh.Name}: {vh.File} already says so; nothing to change.");
                if (PassThru) WriteObject(new VhostInfo(vh));
                continue;
            }
            if (!ShouldProcess(Target(vh), Describe(docRoot, group))) continue;
            if (docRoot is not null && !Directory.Exists(docRoot))
                WriteWarning($"DocumentRoot '{docRoot}' does not exist yet; create it before the vhost is served.");
            if (TryWrite(vh.File, e.ToText(), vh.Name) && PassThru) WriteObject(Reread(vh));
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
        return "Set " + string.Join(", ", parts);
    }
}
