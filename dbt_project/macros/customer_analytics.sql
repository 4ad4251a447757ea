{#
  Scoring rules of the customer analytics marts (customer_rfm, cohort_*). Each rule is written
  once here and documented in models/marts/analytics/customers/_customers__models.yml.
#}

{#
  A 1-5 quintile score by rank, so that equal values always get equal scores:
      score = least(5, 1 + floor(5 * (rank - 1) / (N - 1)))  =  1 + floor(5 * percent_rank), capped
  where rank is rank() over the customers in ascending order of `order_by` (ties share the
  lowest rank) and N the number of customers. The worst value always scores 1, the best 5;
  with N = 1 (or everyone tied) everyone scores 1. Integer arithmetic, so a boundary is never
  missed by a floating-point rounding. (ntile(5) would split a tie, e.g. the many one-order
  customers, into different scores by an arbitrary tie-breaker.)
#}
{% macro rfm_quintile_score(order_by) -%}
    cast(least(
        5,
        1 + (5 * (rank() over (order by {{ order_by }}) - 1)) // greatest(count(*) over () - 1, 1)
    ) as integer)
{%- endmacro %}

{# round((f + m) / 2) with halves rounded up, in integers. #}
{% macro rfm_fm_score(f_score, m_score) -%}
    cast(({{ f_score }} + {{ m_score }} + 1) // 2 as integer)
{%- endmacro %}

{#
  The named segment from R and the FM score: the 11-segment table, made a partition of the
  5 x 5 grid by taking the first rule that applies (the rule table is in customer_rfm's
  description; change both together).
#}
{% macro rfm_segment(r_score, fm_score) -%}
    case
        when {{ r_score }} >= 4 and {{ fm_score }} >= 4 then 'champions'
        when {{ r_score }} = 1 and {{ fm_score }} >= 4 then 'cant_lose_them'
        when {{ r_score }} <= 2 and {{ fm_score }} >= 3 then 'at_risk'
        when {{ r_score }} = 3 and {{ fm_score }} = 3 then 'need_attention'
        when {{ fm_score }} >= 3 then 'loyal'
        when {{ r_score }} >= 4 and {{ fm_score }} = 2 then 'potential_loyalists'
        when {{ r_score }} = 5 then 'new'
        when {{ r_score }} = 4 then 'promising'
        when {{ r_score }} = 3 then 'about_to_sleep'
        when {{ r_score }} = 2 then 'hibernating'
        else 'lost'
    end
{%- endmacro %}

{# A month's number on a continuous scale (year * 12 + month), so that the difference of two
   is the number of calendar months between them, also across year ends. #}
{% macro month_number(d) -%}
    (year({{ d }}) * 12 + month({{ d }}))
{%- endmacro %}

{#
  The orders the customer marts count: not cancelled, with a customer (fct_orders.customer_id,
  the unified cross-channel customer), placed on or before the analysis date.
#}
{% macro customer_orders() -%}
    select
        order_id,
        customer_id,
        channel,
        ordered_date,
        net_amount_base
    from {{ ref('fct_orders') }}
    where not is_cancelled
        and customer_id is not null
        and ordered_date <= {{ analysis_date() }}
{%- endmacro %}
