#requires -Version 7.4
<#
.SYNOPSIS
    Writes the module's MAML help from its one source: the cmdlets' /// comments and their
    parameter metadata.
.DESCRIPTION
    The text comes from the C# documentation comments of the cmdlet classes, compiled into
    ItkPs.xml beside ItkPs.dll: <summary> is the synopsis, <remarks> the description, each
    <example> (<code> then <para>s) an example, <seealso cref> a related link, and a
    parameter's <summary> its description. Everything else is read from the cmdlets
    themselves, as Get-Command sees them: parameter sets, positions, pipeline input, aliases,
    wildcards, accepted values (enums, ValidateSet, ValidateRange, ValidatePattern) and
    defaults (PSDefaultValue, else the value a new cmdlet object holds).
    Anything missing (a synopsis, an example, a parameter's text, a default that cannot be
    read) stops the build with the list of what is missing.
.EXAMPLE
    ./tools/Write-ItkHelp.ps1 -ModulePath out/ItkPs/ItkPs.psd1 -DocFile src/ItkPs/bin/Release/net10.0/ItkPs.xml -OutFile out/ItkPs/en-US/ItkPs.dll-Help.xml
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $OutFile,
    # ItkPs.xml, the compiler's documentation file. Default: beside the module's ItkPs.dll.
    [string] $DocFile
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

$module = Import-Module (Resolve-Path $ModulePath).Path -PassThru -Force
$dll = Join-Path $module.ModuleBase 'ItkPs.dll'
$docFile = $DocFile ? $DocFile : [IO.Path]::ChangeExtension($dll, '.xml')
if (-not (Test-Path $docFile)) { throw "No documentation file '$docFile' (GenerateDocumentationFile)." }
$members = @{}
foreach ($m in ([xml](Get-Content -Raw $docFile)).doc.members.member) { $members[$m.name] = $m }

$problems = [System.Collections.Generic.List[string]]::new()
$common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters
$shouldProcessText = @{
    WhatIf  = 'Shows what would change, as What-if lines, without changing any file, process or account; writes no objects.'
    Confirm = 'Asks for confirmation before each change.'
}

function Child($node, [string] $xpath) { if ($null -eq $node) { $null } else { $node.SelectSingleNode($xpath) } }
function Children($node, [string] $xpath) { if ($null -eq $node) { @() } else { @($node.SelectNodes($xpath)) } }

function Get-Text($node) {
    if ($null -eq $node) { return '' }
    # <see cref="T:X"/> reads as X's cmdlet name or type name; <c> and <paramref> as their text.
    $clone = $node.CloneNode($true)
    foreach ($see in @($clone.SelectNodes('.//see'))) {
        $name = ($see.cref -replace '^\w:', '') -replace '^.*\.', ''
        $see.ParentNode.ReplaceChild($clone.OwnerDocument.CreateTextNode($name), $see) | Out-Null
    }
    ($clone.InnerText -replace '\s+', ' ').Trim()
}

function Get-Paragraphs($node) {
    if ($null -eq $node) { return @() }
    $paras = @($node.SelectNodes('para'))
    if ($paras.Count -eq 0) { return @(Get-Text $node) }

    $paras | ForEach-Object { Get-Text $_ }
}

function Get-TypeName([type] $t) {
    $u = [Nullable]::GetUnderlyingType($t)
    if ($u) { $t = $u }
    $t.Name
}

function Get-AcceptedValues($p) {
    $t = [Nullable]::GetUnderlyingType($p.ParameterType) ?? $p.ParameterType
    if ($t.IsArray) { $t = $t.GetElementType() }
    $set = $p.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] } | Select-Object -First 1
    if ($set) { return @($set.ValidValues) }
    if ($t.IsEnum) { return [Enum]::GetNames($t) }
    @()
}

function Get-AcceptedText($p) {
    $range = $p.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateRangeAttribute] } | Select-Object -First 1
    if ($range) {
        if ($range.MaxRange -eq [int]::MaxValue) { return "Accepted values: $($range.MinRange) or more." }
        return "Accepted values: $($range.MinRange) to $($range.MaxRange)."
    }
    $pattern = $p.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidatePatternAttribute] } | Select-Object -First 1
    if ($pattern) { return "Accepted values: text matching $($pattern.RegexPattern)." }
    $values = Get-AcceptedValues $p
    if ($values) { return "Accepted values: $($values -join ', ')." }
    ''
}

function Get-Default($cmd, $p, $instance) {
    if ($p.SwitchParameter) { return 'False' }
    if ($p.ParameterSets.Values.IsMandatory -notcontains $false) { return 'None' }
    $prop = $cmd.ImplementingType.GetProperty($p.Name)
    $attr = $prop.GetCustomAttributes([System.Management.Automation.PSDefaultValueAttribute], $true) | Select-Object -First 1
    if ($attr) { return ($attr.Help ? $attr.Help : [string]$attr.Value) }
    $value = $prop.GetValue($instance)
    if ($null -eq $value -or ($value -is [array] -and $value.Count -eq 0) -or ($value -is [System.Collections.IDictionary] -and $value.Count -eq 0) -or "$value" -eq '') {
        $problems.Add("$($cmd.Name) -$($p.Name): no default value to show; add [PSDefaultValue(Help = ...)]")
        return ''
    }
    "$value"
}

function Get-PipelineInput($p, [string] $set = $null) {
    $sets = if ($set) { @($p.ParameterSets[$set]) } else { @($p.ParameterSets.Values) }
    $byValue = [bool]($sets | Where-Object ValueFromPipeline)
    $byName = [bool]($sets | Where-Object ValueFromPipelineByPropertyName)
    $how = @(if ($byValue) { 'ByValue' }; if ($byName) { 'ByPropertyName' })
    if ($how) { "True ($($how -join ', '))" } else { 'False' }
}

$settings = [System.Xml.XmlWriterSettings]@{ Indent = $true; Encoding = [System.Text.UTF8Encoding]::new($false) }
New-Item -ItemType Directory -Force (Split-Path $OutFile) | Out-Null
$w = [System.Xml.XmlWriter]::Create($OutFile, $settings)
$maml = 'http://schemas.microsoft.com/maml/2004/10'
$command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
$dev = 'http://schemas.microsoft.com/maml/dev/2004/10'
function Para([string] $text) { $w.WriteStartElement('maml', 'para', $maml); $w.WriteString($text); $w.WriteEndElement() }
function Description([string[]] $paras) { $w.WriteStartElement('maml', 'description', $maml); foreach ($t in $paras) { Para $t }; $w.WriteEndElement() }

function Write-Parameter($cmd, $p, $instance, [string] $set) {
    $inSet = if ($set) { $p.ParameterSets[$set] } else { $null }
    $sets = @($p.ParameterSets.Values)
    $required = if ($inSet) { $inSet.IsMandatory } else { $sets.IsMandatory -notcontains $false }
    $position = if ($inSet) { $inSet.Position } else { @($sets | Where-Object Position -ge 0 | ForEach-Object Position) | Select-Object -First 1 }
    $w.WriteStartElement('command', 'parameter', $command)
    $w.WriteAttributeString('required', "$required".ToLower())
    $w.WriteAttributeString('variableLength', "$($p.ParameterType.IsArray)".ToLower())
    $w.WriteAttributeString('globbing', "$([bool]($p.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] }))".ToLower())
    $w.WriteAttributeString('pipelineInput', (Get-PipelineInput $p $set))
    $w.WriteAttributeString('position', ($null -ne $position -and $position -ge 0) ? "$position" : 'named')
    $w.WriteAttributeString('aliases', ($p.Aliases.Count -gt 0) ? ($p.Aliases -join ', ') : 'none')
    $w.WriteElementString('name', $maml, $p.Name)

    $text = if ($shouldProcessText.ContainsKey($p.Name)) { $shouldProcessText[$p.Name] } else {
        $override = Child $script:classDoc "parameter[@name='$($p.Name)']"
        $prop = $cmd.ImplementingType.GetProperty($p.Name)
        $doc = $members["P:$($prop.DeclaringType.FullName).$($p.Name)"]
        if ($override) { Get-Text $override } elseif ($doc) { Get-Text (Child $doc 'summary') } else { '' }
    }
    if (-not $text) { $problems.Add("$($cmd.Name) -$($p.Name): no /// <summary>") }
    $accepted = Get-AcceptedText $p
    Description @((@($text, $accepted) | Where-Object { $_ }) -join ' ')

    $values = Get-AcceptedValues $p
    if ($values) {
        $w.WriteStartElement('command', 'parameterValueGroup', $command)
        foreach ($v in $values) {
            $w.WriteStartElement('command', 'parameterValue', $command)
            $w.WriteAttributeString('required', 'false'); $w.WriteAttributeString('variableLength', 'false')
            $w.WriteString($v); $w.WriteEndElement()
        }
        $w.WriteEndElement()
    } elseif (-not $p.SwitchParameter) {
        $w.WriteStartElement('command', 'parameterValue', $command)
        $w.WriteAttributeString('required', 'true'); $w.WriteAttributeString('variableLength', "$($p.ParameterType.IsArray)".ToLower())
        $w.WriteString((Get-TypeName $p.ParameterType)); $w.WriteEndElement()
    }
    $w.WriteStartElement('dev', 'type', $dev); $w.WriteElementString('name', $maml, (Get-TypeName $p.ParameterType)); $w.WriteEndElement()
    $default = if ($shouldProcessText.ContainsKey($p.Name)) { 'False' } else { Get-Default $cmd $p $instance }
    $w.WriteElementString('defaultValue', $dev, $default)
    $w.WriteEndElement()
}

$w.WriteStartDocument()
$w.WriteStartElement('helpItems', 'http://msh')
$w.WriteAttributeString('schema', 'maml')
foreach ($cmd in Get-Command -Module $module.Name -CommandType Cmdlet | Sort-Object Noun, Verb) {
    $type = $cmd.ImplementingType
    $script:classDoc = $members["T:$($type.FullName)"]
    $instance = [Activator]::CreateInstance($type)
    $synopsis = Get-Text (Child $classDoc 'summary')
    if (-not $synopsis) { $problems.Add("$($cmd.Name): no /// <summary> (synopsis)") }
    $remarks = @(Get-Paragraphs (Child $classDoc 'remarks'))
    if (-not $remarks) { $problems.Add("$($cmd.Name): no /// <remarks> (description)") }
    $examples = @(Children $classDoc 'example')
    if (-not $examples) { $problems.Add("$($cmd.Name): no /// <example>") }
    $params = @($cmd.Parameters.Values | Where-Object { $common -notcontains $_.Name -or $shouldProcessText.ContainsKey($_.Name) } |
        Sort-Object { $_.Name -in 'WhatIf', 'Confirm' }, { -not ($_.ParameterSets.Values.IsMandatory -contains $true) })

    $w.WriteStartElement('command', 'command', $command)
    $w.WriteAttributeString('xmlns', 'maml', $null, $maml)
    $w.WriteAttributeString('xmlns', 'command', $null, $command)
    $w.WriteAttributeString('xmlns', 'dev', $null, $dev)
    $w.WriteStartElement('command', 'details', $command)
    $w.WriteElementString('name', $command, $cmd.Name)
    $w.WriteElementString('verb', $command, $cmd.Verb)
    $w.WriteElementString('noun', $command, $cmd.Noun)
    Description @($synopsis)
    $w.WriteEndElement()
    Description $remarks

    $w.WriteStartElement('command', 'syntax', $command)
    foreach ($set in $cmd.ParameterSets) {
        $w.WriteStartElement('command', 'syntaxItem', $command)
        $w.WriteElementString('name', $maml, $cmd.Name)
        foreach ($p in $params | Where-Object { $_.ParameterSets.ContainsKey($set.Name) -or $_.ParameterSets.ContainsKey('__AllParameterSets') }) {
            Write-Parameter $cmd $p $instance ($p.ParameterSets.ContainsKey($set.Name) ? $set.Name : '__AllParameterSets')
        }
        $w.WriteEndElement()
    }
    $w.WriteEndElement()

    $w.WriteStartElement('command', 'parameters', $command)
    foreach ($p in $params) { Write-Parameter $cmd $p $instance $null }
    $w.WriteEndElement()

    # Input: what binds from the pipeline; output: the [OutputType]s.
    $w.WriteStartElement('command', 'inputTypes', $command)
    $inputs = @($params | Where-Object { (Get-PipelineInput $_) -ne 'False' })
    foreach ($p in $inputs) {
        $w.WriteStartElement('command', 'inputType', $command)
        $w.WriteStartElement('dev', 'type', $dev); $w.WriteElementString('name', $maml, (Get-TypeName $p.ParameterType)); $w.WriteEndElement()
        Description @("-$($p.Name): $(Get-PipelineInput $p)")
        $w.WriteEndElement()
    }
    if (-not $inputs) {
        $w.WriteStartElement('command', 'inputType', $command)
        $w.WriteStartElement('dev', 'type', $dev); $w.WriteElementString('name', $maml, 'None'); $w.WriteEndElement()
        Description @('Nothing binds from the pipeline.')
        $w.WriteEndElement()
    }
    $w.WriteEndElement()
    $w.WriteStartElement('command', 'returnValues', $command)
    foreach ($o in $cmd.OutputType) {
        $w.WriteStartElement('command', 'returnValue', $command)
        $w.WriteStartElement('dev', 'type', $dev); $w.WriteElementString('name', $maml, $o.Name); $w.WriteEndElement()
        $summary = if ($o.Type) { Get-Text (Child $members["T:$($o.Type.FullName)"] 'summary') } else { '' }
        Description @($summary ? $summary : $o.Name)
        $w.WriteEndElement()
    }
    $w.WriteEndElement()

    $w.WriteStartElement('command', 'examples', $command)
    $i = 0
    foreach ($e in $examples) {
        $i++
        $code = "$((Child $e 'code')?.InnerText)".Trim()
        if (-not $code) { $problems.Add("$($cmd.Name): example $i has no <code>") }
        $w.WriteStartElement('command', 'example', $command)
        $w.WriteElementString('title', $maml, "-------------------------- Example $i --------------------------")
        $w.WriteElementString('code', $dev, $code)
        $w.WriteStartElement('dev', 'remarks', $dev)
        foreach ($t in @($e.SelectNodes('para') | ForEach-Object { Get-Text $_ })) { Para $t }
        $w.WriteEndElement()
        $w.WriteEndElement()
    }
    $w.WriteEndElement()

    $w.WriteStartElement('command', 'relatedLinks', $command)
    foreach ($see in Children $classDoc 'seealso') {
        $t = $type.Assembly.GetType(($see.cref -replace '^T:', ''))
        $a = if ($t) { $t.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false) | Select-Object -First 1 }
        if (-not $a) { $problems.Add("$($cmd.Name): <seealso cref='$($see.cref)'> is not a cmdlet"); continue }
        $w.WriteStartElement('maml', 'navigationLink', $maml)
        $w.WriteElementString('linkText', $maml, "$($a.VerbName)-$($a.NounName)")
        $w.WriteEndElement()
    }
    $w.WriteEndElement()
    $w.WriteEndElement()
}
$w.WriteEndElement()
$w.WriteEndDocument()
$w.Close()
if ($problems.Count -gt 0) {
    Remove-Item $OutFile
    throw "Help is incomplete:`n  $($problems -join "`n  ")"
}
Write-Verbose "Wrote $OutFile"
