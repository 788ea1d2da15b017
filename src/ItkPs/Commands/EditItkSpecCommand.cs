using System.Management.Automation;
using ItkPs.Core.Config;
using ItkPs.Core.Spec;

namespace ItkPs.Commands;

/// <summary>Applies the mpm-itk recipe to an httpd.spec: ITK patch series, httpd-itk subpackage, build, install, check and files.</summary>
/// <remarks>
/// <para>Makes the edits of the classic recipe, each found by the structure of the spec, never by line numbers: the ITK Patch tags after the last PatchN: tag; %package -n httpd-itk before the mod_ssl subpackage (or %prep); in %prep, after the distribution's own %patch lines, a copy of its prefork to server/mpm/experimental/itk and the ITK series applied to it, so the distribution's security fixes are kept; itk built, installed and checked; %exclude of httpd.itk in the main %files; %files -n httpd-itk.</para>
/// <para>Two shapes of httpd.spec are recognised. CentOS 5 builds and installs each MPM on its own line: mpmbuild itk goes before mpmbuild worker, an install line for httpd.itk after the alternative-MPM installs, and itk into the list of the %check loop (for mpm in worker; do). RHEL/CentOS 6 (httpd 2.2.15) and Fedora's httpd 2.2 build, install and check the extra MPMs in loops over a macro (%define mpms worker event, for f in %{mpms}; do mpmbuild $f ...; done): there itk is added to every definition of that macro (%define or %global, each branch of an %if, %{!?mpms:%global mpms ...}) and the three loops follow. A loop over a plain list (for f in worker event) gets itk on its for line.</para>
/// <para>The %exclude is made only where the main %files would otherwise take httpd.itk: a glob or directory that matches /usr/sbin/httpd.itk (%{_sbindir}/httpd*), or a %files -f list. A main %files that lists each file needs none; the result's NotNeeded says so.</para>
/// <para>Where itk comes from: the prefork of the spec's source tree, found in -SourcePath, else in the Source0 tarball (the name rpmspec expands) beside the spec or in ../SOURCES, else assumed at server/mpm/prefork. itk always goes to server/mpm/experimental/itk, the path the ITK 2.2 series patches; a tree without server/mpm/experimental (one that moved its MPMs) gets it made by mkdir -p in %prep, with a warning that says where prefork was found and where itk goes. The result's PreforkDirectory, ItkDirectory and Layout say the same.</para>
/// <para>Already-made edits are skipped, so running it twice changes nothing: a spec that already has every edit is left alone and only -Verbose says so. A spec with neither shape, or another missing anchor, is an error (SpecAnchorMissing) naming the anchor and the nearest line, and nothing is written; a source tree without prefork is PreforkNotFound, a -SourcePath that does not exist SourceNotFound. -WhatIf shows the unified diff in its What-if line and writes nothing; otherwise the result (edits applied, already present and not needed, the layout, the diff) is written to the pipeline.</para>
/// </remarks>
/// <example>
/// <code>Edit-ItkSpec -Path ~/rpmbuild/SPECS/httpd.spec -WhatIf</code>
/// <para>Shows the unified diff of the edits without writing.</para>
/// </example>
/// <example>
/// <code>(Edit-ItkSpec httpd.spec -OutFile httpd-itk.spec).Applied</code>
/// <para>Writes the edited spec beside the original and lists the edits made.</para>
/// </example>
/// <example>
/// <code>Edit-ItkSpec ~/rpmbuild/SPECS/httpd.spec -SourcePath ~/rpmbuild/SOURCES/httpd-2.2.15.tar.gz | Format-List Applied, NotNeeded, Layout</code>
/// <para>A CentOS 6 spec (loops over %{mpms}): Applied lists "itk in %{mpms}" for the build, install and %check loops, NotNeeded the %exclude its main %files does not need, and Layout where prefork was found and where itk goes.</para>
/// </example>
/// <seealso cref="BuildItkRpmCommand"/>
[Cmdlet(VerbsData.Edit, "ItkSpec", SupportsShouldProcess = true)]
[OutputType(typeof(SpecEditInfo))]
public sealed class EditItkSpecCommand : SpecCmdlet
{
    /// <summary>The httpd.spec to edit. Replaced in place (the old one kept as .bak) unless -OutFile is given.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "SpecPath")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Write the edited spec here instead of replacing -Path.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [PSDefaultValue(Help = "-Path itself")]
    public string? OutFile { get; set; }

    /// <summary>The httpd source the spec builds (its Source0 tarball, or an unpacked tree), read to find where prefork lives and whether the tree has server/mpm/experimental.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [PSDefaultValue(Help = "the Source0 tarball beside the spec or in ../SOURCES; without one the upstream layout (server/mpm/prefork)")]
    public string? SourcePath { get; set; }

    protected override void ProcessRecord()
    {
        string path = ResolvePath(Path);
        if (!File.Exists(path))
        {
            WriteError(Errors.FileNotFound(ErrorIds.SpecNotFound, path, $"Spec '{path}' does not exist."));
            return;
        }
        MpmTree tree;
        try
        {
            if (SourcePath is null)
            {
                string folder = System.IO.Path.GetDirectoryName(path)!;
                tree = MpmTree.ForSpec(path, [folder, System.IO.Path.Combine(folder, "..", "SOURCES")], WriteVerbose);
            }
            else
            {
                string source = ResolvePath(SourcePath);
                if (!File.Exists(source) && !Directory.Exists(source))
                {
                    WriteError(Errors.FileNotFound(ErrorIds.SourceNotFound, source, $"-SourcePath '{source}' does not exist."));
                    return;
                }
                tree = MpmTree.Inspect(source);
            }
        }
        catch (SourceTreeException e)
        {
            WriteError(Errors.Failed(ErrorIds.PreforkNotFound, ErrorCategory.ObjectNotFound, e.TreePath, e));
            return;
        }
        SpecEditResult result;
        try { result = Editor.Edit(File.ReadAllText(path), path, tree); }
        catch (SpecAnchorException e)
        {
            WriteError(Errors.Failed(ErrorIds.SpecAnchorMissing, ErrorCategory.ObjectNotFound, path, e));
            return;
        }
        WriteVerbose(result.Layout);
        foreach (var reason in result.NotNeeded) WriteVerbose($"not needed: {reason}");
        string target = OutFile is null ? path : ResolvePath(OutFile);
        if (result.AlreadyEdited)
        {
            WriteVerbose($"{path} already has every mpm-itk edit; nothing to change.");
            if (target == path) return; // nothing changed, so nothing to report
            if (!ShouldProcess(target, "Write the (unchanged) spec")) return;
        }
        else
        {
            // The layout note is part of what -WhatIf shows; the warning is for the real edit.
            string note = result.Tree.HasExperimental ? "" : $" ({result.Layout})";
            if (!ShouldProcess(target, $"Apply {result.Applied.Count} mpm-itk edit(s){note}:{Environment.NewLine}{result.Diff}")) return;
            WarnWhenTheTreeHasNoExperimental(result);
        }
        try { AtomicFile.Write(target, result.Text); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteError(Errors.Io(ErrorIds.ConfigWriteFailed, write: true, target, $"Cannot write '{target}': {e.Message}", e));
            return;
        }
        WriteObject(new SpecEditInfo(result, target));
    }
}
