# Provisioning vhosts with the cmdlets for real users, checked by real Apache + mpm-itk.
BeforeAll {
    Import-Module $env:ITKPS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:Users = 'itkt-a', 'itkt-b', 'itkt-c'
    Remove-TestUser $Users
    $script:Base = New-TestRoot
    $script:Root = Join-Path $Base 'etc'
    $script:Www = Join-Path $Base 'www'
    $script:Sites = [ordered]@{ 'a.itkt.test' = 'itkt-a'; 'b.itkt.test' = 'itkt-b'; 'c.itkt.test' = 'itkt-c' }
    foreach ($site in $Sites.Keys) {
        New-Item -ItemType Directory -Force (Join-Path $Www $site) | Out-Null
        Set-Content (Join-Path $Www "$site/index.html") "hello from $site"
        New-ItkVhost -ConfigRoot $Root -Name $site -DocumentRoot (Join-Path $Www $site) -Alias "www.$site" -Listen '127.0.0.1:18181' -MaxClients 10
        Set-ItkUser -ConfigRoot $Root -Name $site -User $Sites[$site] -CreateUser -FixPermissions | Out-Null
    }
}

AfterAll {
    Remove-TestUser $Users
    Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue
}

Describe 'Provisioning three vhosts for three real users' {
    It 'created the three users as system accounts without a login shell' {
        foreach ($u in $Users) {
            $entry = (getent passwd $u) -split ':'
            $entry[6] | Should -Be '/usr/sbin/nologin'
            [int]$entry[2] | Should -BeGreaterThan 0
        }
    }

    It 'reads back what was written' {
        $vhosts = Get-ItkVhost -ConfigRoot $Root
        $vhosts.Name | Should -Be @($Sites.Keys)
        foreach ($v in $vhosts) {
            $v.User | Should -Be $Sites[$v.Name]
            $v.Group | Should -Be $Sites[$v.Name]
            $v.Aliases | Should -Be @("www.$($v.Name)")
            $v.DocumentRoot | Should -Be (Join-Path $Www $v.Name)
            $v.Listen | Should -Be '127.0.0.1:18181'
            $v.MaxClients | Should -Be 10
            $v.File | Should -Be (Join-Path $Root "vhosts.d/$($v.Name).conf")
            $v.Line | Should -Be 3
        }
    }

    It 'passes Test-ItkConfig without errors or warnings' {
        Test-ItkConfig -ConfigRoot $Root | Should -BeNullOrEmpty
        Test-ItkConfig -ConfigRoot $Root -Quiet | Should -BeTrue
    }

    It 'is accepted by real Apache with mpm-itk (apache2 -t)' {
        $conf = Join-Path $Base 'apache-test.conf'
        (Get-ApacheTestConfig $Base) + "`nInclude $Root/itkps.conf" | Set-Content $conf
        $out = & /usr/sbin/apache2 -t -f $conf 2>&1
        $LASTEXITCODE | Should -Be 0 -Because ($out -join "`n")
        ($out -join "`n") | Should -Match 'Syntax OK'
    }

    It 'makes real Apache fail when a vhost names a user that does not exist (the check is real)' {
        $bad = Join-Path $Base 'bad-apache.conf'
        "ServerRoot /etc/apache2`nServerName localhost`nPidFile $Base/apache.pid`nErrorLog $Base/apache-error.log`nLoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so`nLoadModule mpm_itk_module /usr/lib/apache2/modules/mpm_itk.so`nListen 127.0.0.1:18182`n<VirtualHost *:18182>`nAssignUserID itkt-nobody-here itkt-nobody-here`n</VirtualHost>" | Set-Content $bad
        & /usr/sbin/apache2 -t -f $bad 2>&1 | Out-Null
        $LASTEXITCODE | Should -Not -Be 0
    }

    It 'refuses to overwrite an existing vhost without -Force' {
        { New-ItkVhost -ConfigRoot $Root -Name 'a.itkt.test' -DocumentRoot $Www -ErrorAction Stop } |
            Should -Throw -ErrorId 'VhostFileExists,ItkPs.Commands.NewItkVhostCommand'
    }
}

Describe '-WhatIf changes nothing' {
    It 'leaves every file, mode, owner and account as it was' {
        $before = Get-TreeSnapshot $Root, $Www
        New-ItkVhost -ConfigRoot $Root -Name 'd.itkt.test' -DocumentRoot $Www -WhatIf
        New-ItkVhost -ConfigRoot $Root -Name 'a.itkt.test' -DocumentRoot $Www -Force -WhatIf
        Get-ItkVhost -ConfigRoot $Root | Set-ItkVhost -Nice 5 -MaxClients 3 -Alias 'x.itkt.test' -WhatIf
        Set-ItkVhost -ConfigRoot $Root -Name 'a.itkt.test' -DocumentRoot $Www -WhatIf
        Set-ItkUser -ConfigRoot $Root -Name 'b.itkt.test' -User 'itkt-whatif' -CreateUser -FixPermissions -WhatIf
        Set-ItkUser -ConfigRoot $Root -Name 'b.itkt.test' -User 'itkt-a' -FixPermissions -WhatIf
        Remove-ItkVhost -ConfigRoot $Root -Name 'c.itkt.test' -WhatIf
        Get-TreeSnapshot $Root, $Www | Should -Be $before
        getent passwd itkt-whatif | Should -BeNullOrEmpty
    }
}

Describe 'Changing and removing vhosts' {
    It 'Set-ItkVhost takes vhosts from the pipeline, keeps the old file as .bak and returns the new state' {
        $file = Join-Path $Root 'vhosts.d/a.itkt.test.conf'
        Add-Content $file '# a comment the operator added'
        $old = Get-Content -Raw $file
        $result = Get-ItkVhost -ConfigRoot $Root -Name 'a.itkt.test' | Set-ItkVhost -ConfigRoot $Root -Nice 5 -PassThru
        $result.Nice | Should -Be 5
        Get-Content -Raw "$file.bak" | Should -Be $old
        Get-Content -Raw $file | Should -Match '# a comment the operator added'
        Get-Content -Raw $file | Should -Match '(?m)^    NiceValue 5$'
    }

    It 'Set-ItkVhost -Php FastCgi -Cgi writes what real Apache accepts, and -Php Off -Cgi:$false takes exactly that out again' {
        $file = Join-Path $Root 'vhosts.d/b.itkt.test.conf'
        $before = Get-Content -Raw $file
        $on = Set-ItkVhost -ConfigRoot $Root -Name 'b.itkt.test' -Php FastCgi -Cgi -PassThru
        $on.Php | Should -Be 'FastCgi'
        $on.Cgi | Should -BeTrue
        $text = Get-Content -Raw $file
        $text | Should -Match '(?m)^    <FilesMatch "\\\.php\$">\n        SetHandler application/x-httpd-php\n    </FilesMatch>$'
        $text | Should -Match '(?m)^    Options \+ExecCGI$'
        $text | Should -Match '(?m)^    AddHandler cgi-script \.cgi$'
        $text | Should -Match '(?m)^    DirectoryIndex index\.php index\.html$'
        Set-ItkVhost -ConfigRoot $Root -Name 'b.itkt.test' -Php FastCgi -Cgi
        Get-Content -Raw $file | Should -Be $text -Because 'a second run changes nothing'
        $conf = Join-Path $Base 'apache-php.conf'
        (Get-ApacheTestConfig $Base @('authz_core', 'dir', 'mime', 'cgi')) + "`nInclude $Root/itkps.conf" | Set-Content $conf
        $out = & /usr/sbin/apache2 -t -f $conf 2>&1
        $LASTEXITCODE | Should -Be 0 -Because ($out -join "`n")
        $off = Set-ItkVhost -ConfigRoot $Root -Name 'b.itkt.test' -Php Off -Cgi:$false -PassThru
        $off.Php | Should -Be 'Off'
        $off.Cgi | Should -BeFalse
        Get-Content -Raw $file | Should -Be $before
    }

    It 'reports one error per missing vhost and carries on with the rest' {
        $out = 'missing.itkt.test', 'b.itkt.test' | ForEach-Object { [pscustomobject]@{ Name = $_ } } |
            Set-ItkVhost -ConfigRoot $Root -MaxClients 7 -PassThru -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'VhostNotFound,*'
        $out.Name | Should -Be 'b.itkt.test'
        $out.MaxClients | Should -Be 7
    }

    It 'Remove-ItkVhost retires the file to .bak and the vhost is gone' {
        Remove-ItkVhost -ConfigRoot $Root -Name 'c.itkt.test' -Confirm:$false
        Join-Path $Root 'vhosts.d/c.itkt.test.conf' | Should -Not -Exist
        Join-Path $Root 'vhosts.d/c.itkt.test.conf.bak' | Should -Exist
        (Get-ItkVhost -ConfigRoot $Root).Name | Should -Not -Contain 'c.itkt.test'
    }

    It 'Test-ItkConfig reports a broken file with its line' {
        Set-Content (Join-Path $Root 'vhosts.d/zz-broken.conf') "# broken`n<VirtualHost *:18181>`n  ServerName z.itkt.test`n  AssignUserID itkt-a`n"
        $found = Test-ItkConfig -ConfigRoot $Root
        $errors = @($found | Where-Object Severity -eq 'Error')
        $errors.Count | Should -Be 2
        $errors.Line | Sort-Object | Should -Be @(2, 4)
        $errors.File | ForEach-Object { $_ | Should -BeLike '*zz-broken.conf' }
        Test-ItkConfig -ConfigRoot $Root -Quiet | Should -BeFalse
        Remove-Item (Join-Path $Root 'vhosts.d/zz-broken.conf')
    }
}
