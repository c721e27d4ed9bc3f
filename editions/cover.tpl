{#- Cover of the printed handbook (mkdocs-print-site-plugin cover_page_template). -#}
<div class="hb-cover">
  <p class="hb-cover__kicker">{{ config.site_description }}</p>
  <h1 class="hb-cover__title">{{ config.site_name }}</h1>
  <p class="hb-cover__meta">{{ config.extra.print_language }} · {{ config.extra.print_date }}</p>
  <p class="hb-cover__meta">{{ config.copyright }}</p>
</div>
