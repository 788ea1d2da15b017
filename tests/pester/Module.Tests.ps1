# The module as a PowerShell user meets it: installed with PSResourceGet into a clean module
# path, prompts in a non-interactive pwsh, and the server cmdlets piping into each other with a
# real itkd (a real user, loopback only, exactly the pids it started are stopped).
BeforeAll {
    Import-Module $env:ITKPS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:Base = New-TestRoot
    $script:Pwsh = Join-Path $PSHOME 'pwsh'
    $script:ModuleFolder = Split-Path $env:ITKPS_MODULE_PATH

    # Runs a script in a pwsh of its own with the given environment; returns its output lines and exit code.
    function Invoke-Pwsh([string] $Script, [hashtable] $Environment = @{}, [switch] $NonInteractive) {
        $psi = [System.Diagnostics.ProcessStartInfo]::new($Pwsh)
        $psi.ArgumentList.Add('-NoProfile')
        if ($NonInteractive) { $psi.ArgumentList.Add('-NonInteractive') }
        $psi.ArgumentList.Add('-Command'); $psi.ArgumentList.Add($Script)
        $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true
        foreach ($k in $Environment.Keys) { $psi.Environment[$k] = $Environment[$k] }
        $p = [System.Diagnostics.Process]::Start($psi)
        $err = $p.StandardError.ReadToEndAsync()
        $out = $p.StandardOutput.ReadToEnd()
        $p.WaitForExit()
        [pscustomobject]@{ ExitCode = $p.ExitCode; Lines = @($out -split "`n" | ForEach-Object TrimEnd | Where-Object { $_ }); Error = $err.Result }
    }
}

AfterAll { Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue }

Describe 'Installs like any other module (Publish-PSResource, Install-PSResource)' {
    BeforeAll {
        $script:Repository = Join-Path $Base 'repository'
        $script:Nupkg = & (Join-Path $PSScriptRoot '../../tools/Publish-ItkModule.ps1') -ModulePath $ModuleFolder -RepositoryPath $Repository
        # A clean user: nothing installed, no repository registered, a module path of its own.
        $script:CleanHome = Join-Path $Base 'home'
        New-Item -ItemType Directory -Force "$CleanHome/.local/share" | Out-Null
        $script:Installed = Invoke-Pwsh -NonInteractive -Environment @{
            HOME = $CleanHome; XDG_DATA_HOME = "$CleanHome/.local/share"; PSModulePath = "$CleanHome/.local/share/powershell/Modules"
        } -Script @"
`$ErrorActionPreference = 'Stop'
if (Get-Module -ListAvailable ItkPs) { throw 'ItkPs is already on the module path' }
Register-PSResourceRepository -Name ItkPsLocal -Uri '$Repository' -Trusted
Install-PSResource -Name ItkPs -Repository ItkPsLocal -Scope CurrentUser
Import-Module ItkPs
'base ' + (Get-Module ItkPs).ModuleBase
(Get-Command -Module ItkPs).Name | Sort-Object | ForEach-Object { 'cmdlet ' + `$_ }
& (Join-Path (Get-Module ItkPs).ModuleBase 'itkd/itkd') --help | ForEach-Object { 'itkd ' + `$_ }
'itkd-exit ' + `$LASTEXITCODE
'worker-mode ' + (& stat -c '%a' (Join-Path (Get-Module ItkPs).ModuleBase 'itkd/itkd-worker'))
'help ' + (Get-Help New-ItkVhost).Synopsis
'view ' + (Get-FormatData ItkPs.VhostInfo).TypeNames
"@
    }

    It 'publishes one .nupkg whose metadata comes from the manifest' {
        $Nupkg.Name | Should -Be "ItkPs.$((Import-PowerShellDataFile $env:ITKPS_MODULE_PATH).ModuleVersion).nupkg"
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $zip = [IO.Compression.ZipFile]::OpenRead($Nupkg.FullName)
        try {
            $nuspec = [xml]([IO.StreamReader]::new(($zip.Entries | Where-Object Name -eq 'ItkPs.nuspec').Open()).ReadToEnd())
            $zip.Entries.FullName | Should -Contain 'itkd/itkd'
            $zip.Entries.FullName | Should -Contain 'itkd/itkd-worker'
            $zip.Entries.FullName | Should -Contain 'en-US/ItkPs.dll-Help.xml'
        } finally { $zip.Dispose() }
        $manifest = Import-PowerShellDataFile $env:ITKPS_MODULE_PATH
        $nuspec.package.metadata.description | Should -Be $manifest.Description
        $nuspec.package.metadata.tags -split ' ' | Should -Contain 'mpm-itk'
    }

    It 'installs into the clean module path and imports from there' {
        $Installed.ExitCode | Should -Be 0 -Because $Installed.Error
        ($Installed.Lines | Where-Object { $_ -like 'base *' }) | Should -BeLike "base $CleanHome/.local/share/powershell/Modules/ItkPs/*"
    }

    It 'exports every cmdlet of the manifest' {
        $cmdlets = $Installed.Lines | Where-Object { $_ -like 'cmdlet *' } | ForEach-Object { $_.Substring(7) }
        $cmdlets | Should -Be @((Import-PowerShellDataFile $env:ITKPS_MODULE_PATH).CmdletsToExport | Sort-Object)
        $cmdlets.Count | Should -Be 19
    }

    It 'runs the itkd it ships (itkd --help), its help and its views' {
        ($Installed.Lines | Where-Object { $_ -like 'itkd-exit *' }) | Should -Be 'itkd-exit 0'
        # the workers' image gets its execute bits back too, or workers would start from itkd itself
        ($Installed.Lines | Where-Object { $_ -like 'worker-mode *' }) | Should -Be 'worker-mode 755'
        ($Installed.Lines | Where-Object { $_ -like 'itkd *' }) -join "`n" | Should -Match '--config'
        ($Installed.Lines | Where-Object { $_ -like 'help *' }) | Should -Be 'help Creates a virtual host file in Apache syntax, for Apache + mpm-itk and itkd.'
        ($Installed.Lines | Where-Object { $_ -like 'view *' }) | Should -Be 'view ItkPs.VhostInfo'
    }
}

Describe 'Prompts that cannot be shown fail as PowerShell reports them' {
    It 'Remove-ItkVhost under -NonInteractive reports what Remove-Item reports, and removes nothing' {
        $root = Join-Path $Base 'prompt'
        New-ItkVhost -ConfigRoot $root -Name 'p.itkm.test' -DocumentRoot $Base -WarningAction SilentlyContinue
        $file = Join-Path $root 'vhosts.d/p.itkm.test.conf'
        Set-Content (Join-Path $Base 'victim.txt') 'x'
        $r = Invoke-Pwsh -NonInteractive -Script @"
Import-Module '$env:ITKPS_MODULE_PATH'
foreach (`$command in { Remove-ItkVhost -Name p.itkm.test -ConfigRoot '$root' }, { Remove-Item '$Base/victim.txt' -Confirm }) {
    try { & `$command; 'no error' }
    catch { '{0}|{1}|{2}' -f `$_.FullyQualifiedErrorId, `$_.Exception.GetType().FullName, `$_.CategoryInfo.Category }
}
"@
        $r.Lines.Count | Should -Be 2 -Because ($r.Lines + $r.Error -join "`n")
        $ours, $theirs = $r.Lines
        $ours | Should -Be ($theirs -replace 'Microsoft\.PowerShell\.Commands\.RemoveItemCommand', 'ItkPs.Commands.RemoveItkVhostCommand')
        $ours | Should -BeLike 'InvalidOperation,ItkPs.Commands.RemoveItkVhostCommand|System.Management.Automation.PSInvalidOperationException|InvalidOperation'
        $file | Should -Exist
    }
}

Describe 'Server cmdlets pipe into each other as Start-/Stop-Process do (real itkd)' {
    BeforeAll {
        $script:Port = 18401
        $script:SrvRoot = Join-Path $Base 'srv/etc'
        $script:Doc = Join-Path $Base 'srv/www'
        New-Item -ItemType Directory -Force $Doc | Out-Null
        Set-Content "$Doc/index.html" 'module test'
        New-TestUser 'itkm-srv'
        New-ItkVhost -ConfigRoot $SrvRoot -Name 'srv.itkm.test' -DocumentRoot $Doc -User 'itkm-srv' -Listen "127.0.0.1:$Port"
        Set-ItkUser -ConfigRoot $SrvRoot -Name 'srv.itkm.test' -User 'itkm-srv' -FixPermissions | Out-Null
        chmod 0755 (Split-Path $Doc)
        $script:Log = Join-Path $Base 'srv/itkd.log'
        $script:Started = [System.Collections.Generic.List[int]]::new()
        function Start-TestServer { $s = Start-ItkServer -ConfigRoot $SrvRoot -LogPath $Log -PassThru; $Started.Add($s.Pid); $s }
    }

    AfterAll {
        # Only the servers this file started, by pid.
        foreach ($p in $Started) {
            if (Get-Process -Id $p -ErrorAction SilentlyContinue) { kill -KILL -- "-$p" 2>$null; kill -KILL $p 2>$null; Remove-Item -Recurse -Force "/run/itkd/itkd-$p" -ErrorAction SilentlyContinue }
        }
        Remove-TestUser 'itkm-srv'
    }

    It 'Start-ItkServer -PassThru | Stop-ItkServer stops exactly that server' {
        $s = Start-TestServer
        $s | Should -BeOfType ItkPs.ServerInfo
        (Get-HttpStatus $Port 'srv.itkm.test' '/') | Should -Be 200
        Start-ItkServer -ConfigRoot $SrvRoot -LogPath $Log -PassThru -ErrorAction SilentlyContinue -ErrorVariable again | Should -BeNullOrEmpty
        $again[0].FullyQualifiedErrorId | Should -Be 'ServerAlreadyRunning,ItkPs.Commands.StartItkServerCommand'
        $s | Stop-ItkServer -Confirm:$false
        Get-Process -Id $s.Pid -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'finds the server started from a config root by -ConfigRoot, relative to $PWD too' {
        $s = Start-TestServer
        $s.ControlSocket | Should -Match '^/run/itkd/itkd-[0-9a-f]{12}\.sock$'
        (Get-ItkServer -ConfigRoot $SrvRoot).Pid | Should -Be $s.Pid
        Push-Location (Split-Path $SrvRoot)
        try { (Get-ItkServer -ConfigRoot ./etc).Pid | Should -Be $s.Pid } finally { Pop-Location }
        $after = Get-ItkServer -ConfigRoot $SrvRoot | Restart-ItkServer -PassThru
        $after.Generation | Should -Be ($s.Generation + 1)
        Stop-ItkServer -ConfigRoot $SrvRoot -Confirm:$false -PassThru | ForEach-Object Pid | Should -Be $s.Pid
        Get-Process -Id $s.Pid -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'a stopped server is a non-terminating ServerNotRunning, and SilentlyContinue makes "stop it if it runs"' {
        $s = Start-TestServer
        Stop-ItkServer -InputObject $s -Confirm:$false
        { Stop-ItkServer -ConfigRoot $SrvRoot -Confirm:$false -ErrorAction SilentlyContinue } | Should -Not -Throw
        $s | Stop-ItkServer -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable gone
        $gone.Count | Should -Be 1
        $gone[0].FullyQualifiedErrorId | Should -Be 'ServerNotRunning,ItkPs.Commands.StopItkServerCommand'
    }

    It '-WhatIf on a running server stops nothing, reloads nothing and writes nothing' {
        $s = Start-TestServer
        try {
            $s | Stop-ItkServer -WhatIf | Should -BeNullOrEmpty
            $s | Restart-ItkServer -WhatIf -PassThru | Should -BeNullOrEmpty
            Stop-ItkServer -ConfigRoot $SrvRoot -WhatIf -PassThru | Should -BeNullOrEmpty
            Get-Process -Id $s.Pid | Should -Not -BeNullOrEmpty
            (Get-ItkServer -ConfigRoot $SrvRoot).Generation | Should -Be $s.Generation
        } finally { $s | Stop-ItkServer -Confirm:$false }
    }

    It 'the default views read as a table' {
        $s = Start-TestServer
        try {
            $null = Get-HttpStatus $Port 'srv.itkm.test' '/'
            $table = Get-ItkServer -ConfigRoot $SrvRoot | Out-String
            $table | Should -Match 'Pid\s+Generation\s+Uptime\s+Listeners\s+Pools\s+ConfigFile'
            $table | Should -Match "127\.0\.0\.1:$Port\s+itkm-srv\(1\)"
            (Get-ItkServer -ConfigRoot $SrvRoot).Pools | Out-String | Should -Match 'User\s+Group\s+Workers\s+WorkerPids\s+Active\s+Connections\s+Requests'
        } finally { $s | Stop-ItkServer -Confirm:$false }
    }
}
